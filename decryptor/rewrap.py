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
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptorError
from .policy import suite_name
from .wire import HeaderReader

SUITE_V1 = 0x0178
SUITE_V2 = 0x0478
_DATA_KEY_LENGTH = 32
_TAG_LENGTH = 16
_COMMITMENT_LENGTH = 32


class RewrapError(DecryptorError):
    """One message could not be re-wrapped; the message says why and never holds key material."""


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A key as messages name it: the entity's provider id and the public key's name."""

    provider_id: str
    key_name: str

    def __str__(self) -> str:
        return f"{self.provider_id}/{self.key_name}"


@dataclass(frozen=True, slots=True)
class NewKey:
    """Where re-wrapped data keys go: the new key's name and its public half, with the padding to use."""

    ref: KeyRef
    public_key: RSAPublicKey
    padding: padding.AsymmetricPadding


@dataclass(frozen=True, slots=True)
class DataKeyEntry:
    """One encrypted data key of a header."""

    provider_id: bytes
    key_name: bytes
    wrapped: bytes

    def names(self, ref: KeyRef) -> bool:
        return self.provider_id == ref.provider_id.encode() and self.key_name == ref.key_name.encode()

    def serialize(self) -> bytes:
        return b"".join(
            struct.pack(">H", len(f)) + f for f in (self.provider_id, self.key_name, self.wrapped)
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A message split where re-wrapping needs it; `prefix` + count + keys + `suffix` is the header body."""

    version: int
    suite: int
    message_id: bytes
    prefix: bytes  # version .. encryption context
    data_keys: tuple[DataKeyEntry, ...]
    suffix: bytes  # content type .. frame length (and, in v2, the commitment key)
    header_iv: bytes  # v1: the header's IV (12 bytes); v2: empty (the IV is implied all-zero)
    header_tag: bytes
    rest: bytes  # body (and footer), untouched

    def header_body(self, data_keys: tuple[DataKeyEntry, ...]) -> bytes:
        return (
            self.prefix
            + struct.pack(">H", len(data_keys))
            + b"".join(k.serialize() for k in data_keys)
            + self.suffix
        )


def parse(message: bytes) -> Message:
    """Split `message` (suite 0x0178 or 0x0478); RewrapError for anything else or a malformed header."""
    r = HeaderReader(message, lambda: RewrapError("message header is truncated"))
    version = r.take(1)[0]
    if version == 1 and r.take(1) != b"\x80":
        raise RewrapError("message type is not 0x80")
    if version not in (1, 2):
        raise RewrapError(f"unknown message format version {version}")
    suite = r.u16()
    if (version, suite) not in ((1, SUITE_V1), (2, SUITE_V2)):
        raise RewrapError(
            f"algorithm suite {suite_name(suite)} cannot be re-wrapped (only 0x0178 and 0x0478; "
            "signed suites sign the header with a key we never hold)"
        )
    message_id = r.take(16 if version == 1 else 32)
    r.take(r.u16())  # encryption context, kept as it is
    prefix = message[: r.at]
    count = r.u16()
    if count == 0:
        raise RewrapError("message has no encrypted data keys")
    keys = tuple(DataKeyEntry(r.field(), r.field(), r.field()) for _ in range(count))
    start = r.at
    if r.take(1) not in (b"\x01", b"\x02"):
        raise RewrapError("unknown content type")
    if version == 1:
        r.take(4)  # reserved
        iv_length = r.take(1)[0]
        if iv_length != 12:
            raise RewrapError("unexpected IV length")
        r.take(4)  # frame length
        suffix = message[start : r.at]
        header_iv = r.take(iv_length)
    else:
        r.take(4 + _COMMITMENT_LENGTH)  # frame length, commitment key
        suffix = message[start : r.at]
        header_iv = b""
    tag = r.take(_TAG_LENGTH)
    return Message(version, suite, message_id, prefix, keys, suffix, header_iv, tag, message[r.at :])


def _header_key(msg: Message, data_key: bytes) -> bytes:
    suite = struct.pack(">H", msg.suite)
    if msg.version == 1:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=suite + msg.message_id)
        return hkdf.derive(data_key)
    commitment = HKDF(algorithm=hashes.SHA512(), length=32, salt=msg.message_id, info=b"COMMITKEY")
    if not hmac.compare_digest(commitment.derive(data_key), msg.suffix[-_COMMITMENT_LENGTH:]):
        raise RewrapError("key commitment does not match (tampered message or wrong key)")
    hkdf = HKDF(algorithm=hashes.SHA512(), length=32, salt=msg.message_id, info=suite + b"DERIVEKEY")
    return hkdf.derive(data_key)


def _iv(msg: Message) -> bytes:
    return msg.header_iv or bytes(12)


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
        aead.decrypt(_iv(msg), msg.header_tag, msg.header_body(msg.data_keys))  # empty plaintext: tag only
    except InvalidTag:
        raise RewrapError("header authentication failed (tampered message or wrong key)") from None
    replacement = DataKeyEntry(
        new.ref.provider_id.encode(), new.ref.key_name.encode(), new.public_key.encrypt(data_key, new.padding)
    )
    keys: list[DataKeyEntry] = []
    for k in msg.data_keys:  # the old key's place, once; another data key for the new key is dropped
        candidate = replacement if k.names(old) else k
        if not any(c.names(new.ref) for c in keys) or not candidate.names(new.ref):
            keys.append(candidate)
    header = msg.header_body(tuple(keys))
    tag = aead.encrypt(_iv(msg), b"", header)
    return header + msg.header_iv + tag + msg.rest
