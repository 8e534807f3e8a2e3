"""Re-wrap one AWS Encryption SDK message from an old RSA key to a new one without decrypting its content.

A message's content is encrypted under a data key; the header carries that data key wrapped with each
recipient's RSA public key (an "encrypted data key": provider id, key name, wrapped bytes) and ends with
an authentication tag over the header, made with a key derived from the data key. Re-wrapping therefore
needs only the data key, never the plaintext:

1. parse the header; find the encrypted data key naming the old (provider id, key name);
2. unwrap the data key with the old private key, through the keystore (an HSM does it inside the token);
3. derive the header key from it and check the header's authentication tag (and, for suite 0x0478, the
   key commitment), so a tampered message is refused rather than laundered under the new key;
4. wrap the same data key with the new public key, put that encrypted data key where the old one was,
   and recompute the header tag;
5. keep the body as it is: its frames are authenticated with the data key and the message id (frame AAD),
   neither of which changed.

Only the 32-byte data key exists in this process, for a moment; the plaintext never does. Supported
suites are those the proxy writes: 0x0178 (format v1, HKDF-SHA256) and 0x0478 (format v2, HKDF-SHA512,
key commitment, which is derived from the data key and the message id and so also unchanged). Signed
suites (0x0378, 0x0578) cannot be re-wrapped: their footer signs the header with a key we never hold.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from esdk_format import (
    EncryptedDataKey,
    FormatError,
    Header,
    HeaderReader,
    KeyRef,
    Suite,
    parse_header,
    suite_name,
)

from .errors import DecryptorError

REWRAPPABLE = (Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256, Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
_DATA_KEY_LENGTH = 32

__all__ = ["KeyRef", "NewKey", "RewrapError", "names_key", "parse", "rewrap"]


class RewrapError(DecryptorError):
    """One message could not be re-wrapped; the message says why and never holds key material."""


@dataclass(frozen=True, slots=True)
class NewKey:
    """Where re-wrapped data keys go: the new key's name and its public half, with the padding to use."""

    ref: KeyRef
    public_key: RSAPublicKey
    padding: padding.AsymmetricPadding


def parse(message: bytes) -> Header:
    """Split `message` (suite 0x0178 or 0x0478); RewrapError for anything else or a malformed header."""
    try:
        r = HeaderReader(message)
        version = r.u8()
        if version in (1, 2):
            r.take(1 if version == 1 else 0)
            suite = r.u16()
            if suite not in REWRAPPABLE or Suite(suite).message_version != version:
                raise RewrapError(
                    f"algorithm suite {suite_name(suite)} cannot be re-wrapped (only 0x0178 and 0x0478; "
                    "signed suites sign the header with a key we never hold)"
                )
        return parse_header(message)
    except FormatError as e:
        raise RewrapError(_WORDING.get(str(e), str(e))) from None


# the format module's words for a broken header, as re-wrapping has always reported them
_WORDING = {
    "header truncated": "message header is truncated",
    "no encrypted data keys": "message has no encrypted data keys",
}


def _header_key(msg: Header, data_key: bytes) -> bytes:
    suite = Suite(msg.suite)
    if msg.version == 1:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=suite.wire + msg.message_id)
        return hkdf.derive(data_key)
    commitment = HKDF(algorithm=hashes.SHA512(), length=32, salt=msg.message_id, info=b"COMMITKEY")
    if not hmac.compare_digest(commitment.derive(data_key), msg.commitment):
        raise RewrapError("key commitment does not match (tampered message or wrong key)")
    hkdf = HKDF(algorithm=hashes.SHA512(), length=32, salt=msg.message_id, info=suite.wire + b"DERIVEKEY")
    return hkdf.derive(data_key)


def names_key(message: bytes, ref: KeyRef) -> bool:
    """True when `message` parses and one of its encrypted data keys names `ref` (no key is used)."""
    try:
        return any(k.names(ref) for k in parse(message).data_keys)
    except RewrapError:
        return False


def rewrap(message: bytes, old: KeyRef, new: NewKey, unwrap: Callable[[bytes], bytes]) -> bytes | None:
    """`message` with its data key for `old` re-wrapped for `new`; None when no data key names `old`.

    `unwrap(wrapped) -> data key` is the old key's keystore backend (blocking). RewrapError when the
    message cannot be re-wrapped: unsupported suite, malformed or tampered header, unwrap failure.
    """
    msg = parse(message)
    if not any(k.names(old) for k in msg.data_keys):
        return None
    (entry,) = [k for k in msg.data_keys if k.names(old)][:1]
    try:
        data_key = unwrap(entry.wrapped)
    except Exception as e:
        raise RewrapError(f"the old key could not unwrap the data key ({type(e).__name__})") from e
    if len(data_key) != _DATA_KEY_LENGTH:
        raise RewrapError("the unwrapped data key has the wrong length")
    aead = AESGCM(_header_key(msg, data_key))
    try:
        aead.decrypt(msg.iv, msg.header_tag, msg.body_with(msg.data_keys))  # empty plaintext: tag only
    except InvalidTag:
        raise RewrapError("header authentication failed (tampered message or wrong key)") from None
    replacement = EncryptedDataKey(
        new.ref.provider_id.encode(), new.ref.key_name.encode(), new.public_key.encrypt(data_key, new.padding)
    )
    keys: list[EncryptedDataKey] = []
    for k in msg.data_keys:  # the old key's place, once; another data key for the new key is dropped
        candidate = replacement if k.names(old) else k
        if not any(c.names(new.ref) for c in keys) or not candidate.names(new.ref):
            keys.append(candidate)
    header = msg.body_with(keys)
    tag = aead.encrypt(msg.iv, b"", header)
    return header + msg.header_iv + tag + msg.rest
