"""AWS Encryption SDK message encoder for one field value, as CloudFront field-level encryption writes it.

Format v1, suite 0x0178 (AES-256-GCM, IV 12, tag 16, HKDF-SHA256, no signature), no encryption context,
one encrypted data key wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256), framed body (frame length 4096).

Why not aws-encryption-sdk itself: the proxy encrypts one short value per field per request, and the SDK
builds a materials manager, a stream and several attrs objects per message. This module calls the same
`cryptography` primitives directly. `tests/esdk_format/test_esdk_interop.py` proves the bytes are a valid
message by decrypting them with aws-encryption-sdk's own RawMasterKey.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from esdk_format import OneKeyHeader, Suite

SUITE_ID = Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
FRAME_LENGTH = 4096  # bytes of plaintext per frame, the SDK's default
_IV_LENGTH = 12
_ZERO_IV = bytes(_IV_LENGTH)
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_FRAME_AAD = b"AWSKMSEncryptionClient Frame"
_FINAL_FRAME_AAD = b"AWSKMSEncryptionClient Final Frame"
# HKDF-SHA256 with no salt (RFC 5869: a salt of 32 zero bytes) extracts with HMAC under a fixed key: its
# inner and outer hash states are taken once here, so extracting costs two hash updates, not an HMAC setup.
_EXTRACT_INNER = hashlib.sha256(bytes(b ^ 0x36 for b in bytes(64)))
_EXTRACT_OUTER = hashlib.sha256(bytes(b ^ 0x5C for b in bytes(64)))
# The expand's HMAC is keyed by the PRK, new per message: its pads are made with bytes.translate (each byte
# XORed with 0x36 or 0x5C) and hashed from copies of an empty SHA-256 state. hmac.digest(..., "sha256")
# did the same work but looked the digest up by name in OpenSSL's provider store on every call (2.6 against
# 4.0 µs for the whole derivation in a tight loop; docs/performance.md, issue 27, second pass).
_SHA256 = hashlib.sha256()
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
_KEY_PAD = bytes(64 - 32)  # an HMAC key shorter than SHA-256's 64-byte block is padded with zeros
_INFO_PREFIX = SUITE_ID.wire  # HKDF info is the suite id, then the message id


@dataclass(frozen=True, slots=True)
class FieldKey:
    """A public key bound to the provider id and key name written into every message's data key."""

    public_key: RSAPublicKey = field(repr=False)
    provider_id: bytes
    key_name: bytes

    # the header bytes fixed by the key, packed once per suite the edge writes
    headers: dict[int, OneKeyHeader] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.provider_id) > 0xFFFF or len(self.key_name) > 0xFFFF:
            raise ValueError("provider id and key name must each fit in 65535 bytes")
        for suite in (SUITE_ID, Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY):
            self.headers[suite] = OneKeyHeader(suite, self.provider_id, self.key_name, FRAME_LENGTH)


@dataclass(frozen=True, slots=True)
class Opening:
    """One message up to its body, made before its value is known: its data key drawn and wrapped, its
    content key derived, its header written and authenticated. Nothing in it depends on the value, so it
    can be made ahead (`openings.Openings`); it must seal exactly one value (`seal`), never two."""

    head: bytes = field(repr=False)  # the header and its authentication
    aead: AESGCM = field(repr=False)  # keyed with the message's derived content key
    message_id: bytes = field(repr=False)


def open_message(key: FieldKey, random: Callable[[int], bytes] = os.urandom) -> Opening:
    """A new message (v1, 0x0178) for `key`: data key and message id fresh, drawn in one call (48 bytes:
    the key, then the id), one system call where two were made. The data key itself is dropped here; only
    the content key derived from it is kept, inside the AESGCM object."""
    drawn = random(48)
    data_key, message_id = drawn[:32], drawn[32:]
    wrapped = key.public_key.encrypt(data_key, _OAEP)
    header = key.headers[SUITE_ID].serialize(message_id, wrapped)
    aead = AESGCM(hkdf_sha256_no_salt(data_key, _INFO_PREFIX + message_id))
    header_tag = aead.encrypt(_ZERO_IV, b"", header)  # empty plaintext: the result is the 16-byte tag
    return Opening(header + _ZERO_IV + header_tag, aead, message_id)


def seal(opening: Opening, plaintext: bytes) -> bytes:
    """The complete message: `opening`'s head, then `plaintext` in frames under its content key."""
    return b"".join([opening.head, *framed_body(opening.aead, opening.message_id, plaintext)])


def encrypt(plaintext: bytes, key: FieldKey, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """Return one complete ESDK message (v1, 0x0178) holding `plaintext`; `random` is injectable for tests."""
    return seal(open_message(key, random), plaintext)


def hkdf_sha256_no_salt(key: bytes, info: bytes) -> bytes:
    """HKDF-SHA256(salt=None, info) of `key`, 32 bytes: the same as cryptography's HKDF (one block of
    output: T(1) = HMAC(PRK, info || 0x01)), with the fixed-key extract's hash states reused and the
    expand's HMAC written out (RFC 2104: H(K ^ opad || H(K ^ ipad || m)), K the PRK padded to 64 bytes)."""
    inner = _EXTRACT_INNER.copy()
    inner.update(key)
    outer = _EXTRACT_OUTER.copy()
    outer.update(inner.digest())
    prk = outer.digest() + _KEY_PAD
    inner = _SHA256.copy()
    inner.update(prk.translate(_IPAD))
    inner.update(info + b"\x01")
    outer = _SHA256.copy()
    outer.update(prk.translate(_OPAD))
    outer.update(inner.digest())
    return outer.digest()


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
