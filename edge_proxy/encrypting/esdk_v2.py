"""AWS Encryption SDK message encoder, format v2 with the committing suite 0x0478.

Suite 0x0478 is AES-256-GCM (IV 12, tag 16) with HKDF-SHA512 key derivation and key commitment, no
signature. Compared with `esdk` (v1, 0x0178) the message differs in four places:

- the header starts with version 0x02 and has no message type byte; the message id is 32 bytes;
- the header ends with the 32-byte commitment key (the suite's "algorithm suite data") after the frame
  length, and the IV-length byte and the reserved bytes are gone;
- the data key is HKDF-SHA512(salt=message id, info=suite id || "DERIVEKEY") of the plaintext data key,
  and the commitment key HKDF-SHA512(salt=message id, info="COMMITKEY");
- the header authentication is the 16-byte tag alone (its IV is the implied all-zero IV).

Frames are as in v1, with the 32-byte message id in their AAD. Same wrapping (RSA-OAEP-SHA256), no
encryption context, one encrypted data key, frame length 4096. `tests/esdk_format/test_esdk_v2.py` proves
the bytes with aws-encryption-sdk's own decryptor, which checks the commitment key.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from esdk_format import Suite

from .esdk import _OAEP, FieldKey, Opening, seal

SUITE_ID = Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
_IV_LENGTH = 12
_ZERO_IV = bytes(_IV_LENGTH)
_KEY_LABEL = b"DERIVEKEY"
_COMMIT_LABEL = b"COMMITKEY"


_DERIVE_INFO = SUITE_ID.wire + _KEY_LABEL + b"\x01"  # HKDF's expand: info, then the block counter 1
_COMMIT_INFO = _COMMIT_LABEL + b"\x01"


def _hkdf_pair(data_key: bytes, message_id: bytes) -> tuple[bytes, bytes]:
    """HKDF-SHA512(salt=message id) of the data key, 32 bytes each: the commitment key ("COMMITKEY") and
    the data encryption key (suite id || "DERIVEKEY"). Both have the same salt and input, so the extract
    (PRK = HMAC(salt, key)) is done once; one expand block each (SHA-512 gives 64 bytes, 32 are taken)."""
    prk = hmac.digest(message_id, data_key, "sha512")
    return hmac.digest(prk, _COMMIT_INFO, "sha512")[:32], hmac.digest(prk, _DERIVE_INFO, "sha512")[:32]


def open_message(key: FieldKey, random: Callable[[int], bytes] = os.urandom) -> Opening:
    """A new message (v2, 0x0478) for `key`, up to its body (see `esdk.Opening`): data key and message id
    fresh, drawn in one call (the key, then the id)."""
    drawn = random(64)
    data_key, message_id = drawn[:32], drawn[32:]
    wrapped = key.public_key.encrypt(data_key, _OAEP)
    commitment, derived = _hkdf_pair(data_key, message_id)
    header = key.headers[SUITE_ID].serialize(message_id, wrapped, commitment)
    aead = AESGCM(derived)
    header_tag = aead.encrypt(_ZERO_IV, b"", header)  # empty plaintext: the result is the 16-byte tag
    return Opening(header + header_tag, aead, message_id)


def encrypt(plaintext: bytes, key: FieldKey, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """Return one complete ESDK message (v2, 0x0478) holding `plaintext`; `random` is injectable for tests."""
    return seal(open_message(key, random), plaintext)
