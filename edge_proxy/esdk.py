"""AWS Encryption SDK message encoder for one field value, as CloudFront field-level encryption writes it.

Format v1, suite 0x0178 (AES-256-GCM, IV 12, tag 16, HKDF-SHA256, no signature), no encryption context,
one encrypted data key wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256), framed body (frame length 4096).

Why not aws-encryption-sdk itself: the proxy encrypts one short value per field per request, and the SDK
builds a materials manager, a stream and several attrs objects per message. This module calls the same
`cryptography` primitives directly. `tests/test_esdk_interop.py` proves the bytes are a valid message by
decrypting them with aws-encryption-sdk's own RawMasterKey.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SUITE_ID = 0x0178
FRAME_LENGTH = 4096  # bytes of plaintext per frame, the SDK's default
_IV_LENGTH = 12
_ZERO_IV = bytes(_IV_LENGTH)
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_FRAME_AAD = b"AWSKMSEncryptionClient Frame"
_FINAL_FRAME_AAD = b"AWSKMSEncryptionClient Final Frame"
_SHA256 = hashes.SHA256()
_SUITE_BYTES = struct.pack(">H", SUITE_ID)
_HEADER_START = b"\x01\x80" + _SUITE_BYTES  # version 1, type customer-authenticated encrypted data, suite
# framed content, 4 reserved bytes, IV length, frame length
_HEADER_END = b"\x02\x00\x00\x00\x00" + bytes((_IV_LENGTH,)) + struct.pack(">I", FRAME_LENGTH)


@dataclass(frozen=True, slots=True)
class FieldKey:
    """A public key bound to the provider id and key name written into every message's data key."""

    public_key: RSAPublicKey = field(repr=False)
    provider_id: bytes
    key_name: bytes

    _key_fields: bytes = field(init=False, repr=False, compare=False, default=b"")

    def __post_init__(self) -> None:
        if len(self.provider_id) > 0xFFFF or len(self.key_name) > 0xFFFF:
            raise ValueError("provider id and key name must each fit in 65535 bytes")
        # the header bytes fixed by the key (AAD length through the wrapped key's length), packed once
        fields = b"".join(
            (
                b"\x00\x00",  # AAD length: empty encryption context
                b"\x00\x01",  # one encrypted data key
                struct.pack(">H", len(self.provider_id)),
                self.provider_id,
                struct.pack(">H", len(self.key_name)),
                self.key_name,
                struct.pack(">H", (self.public_key.key_size + 7) // 8),
            )
        )
        object.__setattr__(self, "_key_fields", fields)


def encrypt(plaintext: bytes, key: FieldKey, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """Return one complete ESDK message (v1, 0x0178) holding `plaintext`; `random` is injectable for tests."""
    data_key = random(32)
    message_id = random(16)
    wrapped = key.public_key.encrypt(data_key, _OAEP)
    header = b"".join((_HEADER_START, message_id, key._key_fields, wrapped, _HEADER_END))
    derived = HKDF(algorithm=_SHA256, length=32, salt=None, info=_SUITE_BYTES + message_id).derive(data_key)
    aead = AESGCM(derived)
    header_tag = aead.encrypt(_ZERO_IV, b"", header)  # empty plaintext: the result is the 16-byte tag
    return b"".join([header, _ZERO_IV, header_tag, *framed_body(aead, message_id, plaintext)])


def framed_body(aead: AESGCM, message_id: bytes, plaintext: bytes) -> list[bytes]:
    """The framed message body (regular frames, then the final frame); the same in format v1 and v2."""
    parts: list[bytes] = []
    sequence = 1
    offset = 0
    while len(plaintext) - offset > FRAME_LENGTH:
        chunk = plaintext[offset : offset + FRAME_LENGTH]
        iv = sequence.to_bytes(_IV_LENGTH, "big")
        aad = message_id + _FRAME_AAD + struct.pack(">IQ", sequence, len(chunk))
        parts += [struct.pack(">I", sequence), iv, aead.encrypt(iv, chunk, aad)]
        sequence += 1
        offset += FRAME_LENGTH
    final = plaintext[offset:]
    iv = sequence.to_bytes(_IV_LENGTH, "big")
    aad = message_id + _FINAL_FRAME_AAD + struct.pack(">IQ", sequence, len(final))
    sealed = aead.encrypt(iv, final, aad)  # ciphertext || tag
    parts += [b"\xff\xff\xff\xff", struct.pack(">I", sequence), iv, struct.pack(">I", len(final)), sealed]
    return parts
