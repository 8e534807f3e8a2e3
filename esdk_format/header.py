"""The ESDK message header, serialised and parsed in one place (no keys here, only bytes).

    v1: 01 80 | suite | message id (16) | AAD length, encryption context | data key count, data keys
        | content type | 4 reserved | IV length (12) | frame length | header IV (12) | header tag (16)
    v2: 02    | suite | message id (32) | AAD length, encryption context | data key count, data keys
        | content type | frame length | commitment key (32) | header tag (16)

A data key is three uint16-length-prefixed fields: provider id, key name (the provider's "key info"),
and the data key wrapped with that key. Readers: the decryptor's policy reads the prefix up to the data
keys (`read_prefix`, it refuses a message with too many keys before reading them all), re-wrapping reads
the whole header (`parse_header`). Writers: the edge's encoders (`serialize_header`) and re-wrapping
(`Header.body_with`). The authentication tag and the key derivation are the callers' business.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import MalformedHeader, TooManyDataKeys

MESSAGE_ID_LENGTH = {1: 16, 2: 32}
V1_TYPE = 0x80  # customer authenticated encrypted data
FRAMED = 0x02
IV_LENGTH = 12
TAG_LENGTH = 16
COMMITMENT_LENGTH = 32
_EMPTY_CONTEXT = b"\x00\x00"


class HeaderReader:
    """A cursor over message bytes; running past the end raises MalformedHeader("header truncated")."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise MalformedHeader("header truncated")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def field(self) -> bytes:
        """A uint16 length, then that many bytes."""
        return self.take(self.u16())


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A key as messages name it: the entity's provider id and the public key's name."""

    provider_id: str
    key_name: str

    def __str__(self) -> str:
        return f"{self.provider_id}/{self.key_name}"


@dataclass(frozen=True, slots=True)
class EncryptedDataKey:
    """One encrypted data key of a header: who can unwrap it (provider id, key name), the wrapped key."""

    provider_id: bytes
    key_name: bytes
    wrapped: bytes

    @property
    def ref(self) -> KeyRef:
        """The key it names, as text (bytes that are not UTF-8 are replaced, so it never raises)."""
        return KeyRef(
            self.provider_id.decode("utf-8", errors="replace"),
            self.key_name.decode("utf-8", errors="replace"),
        )

    def names(self, ref: KeyRef) -> bool:
        return self.provider_id == ref.provider_id.encode() and self.key_name == ref.key_name.encode()

    def serialize(self) -> bytes:
        if max(len(self.provider_id), len(self.key_name), len(self.wrapped)) > 0xFFFF:
            raise ValueError("provider id, key name and wrapped key must each fit in 65535 bytes")
        return b"".join(
            struct.pack(">H", len(f)) + f for f in (self.provider_id, self.key_name, self.wrapped)
        )


def encode_data_keys(keys: Sequence[EncryptedDataKey]) -> bytes:
    """The data key count and the data keys, as a header holds them."""
    return struct.pack(">H", len(keys)) + b"".join(k.serialize() for k in keys)


def serialize_header(
    suite: int,
    message_id: bytes,
    keys: Sequence[EncryptedDataKey],
    frame_length: int,
    commitment: bytes = b"",
) -> bytes:
    """A framed message's header body (up to the header IV/tag), empty encryption context.

    Format v1 when `commitment` is empty, v2 (which needs the 32-byte commitment key) otherwise; the
    message id must have the version's length.
    """
    version = 2 if commitment else 1
    if len(message_id) != MESSAGE_ID_LENGTH[version]:
        raise ValueError(f"a v{version} message id is {MESSAGE_ID_LENGTH[version]} bytes")
    start = b"\x02" if version == 2 else b"\x01\x80"
    if version == 1:
        end = bytes((FRAMED, 0, 0, 0, 0, IV_LENGTH)) + struct.pack(">I", frame_length)
    else:
        if len(commitment) != COMMITMENT_LENGTH:
            raise ValueError(f"the commitment key is {COMMITMENT_LENGTH} bytes")
        end = bytes((FRAMED,)) + struct.pack(">I", frame_length) + commitment
    return b"".join(
        (start, struct.pack(">H", suite), message_id, _EMPTY_CONTEXT, encode_data_keys(keys), end)
    )


@dataclass(frozen=True, slots=True)
class OneKeyHeader:
    """`serialize_header` for messages with one data key of a fixed key, the fixed bytes packed once.

    The edge writes one message per protected field, always for the same few keys: only the message id,
    the wrapped data key and (v2) the commitment change per message. Same bytes as `serialize_header`
    (tests/esdk_format/test_esdk_format.py compares them).
    """

    suite: int
    provider_id: bytes
    key_name: bytes
    frame_length: int
    _start: bytes = field(init=False, repr=False, compare=False, default=b"")
    _keys: bytes = field(init=False, repr=False, compare=False, default=b"")
    _end: bytes = field(init=False, repr=False, compare=False, default=b"")

    def __post_init__(self) -> None:
        template = serialize_header(
            self.suite,
            bytes(MESSAGE_ID_LENGTH[self.version]),
            (EncryptedDataKey(self.provider_id, self.key_name, b""),),
            self.frame_length,
            bytes(COMMITMENT_LENGTH) if self.version == 2 else b"",
        )
        start = 1 if self.version == 2 else 2
        keys_at = start + 2 + MESSAGE_ID_LENGTH[self.version]
        end_at = keys_at + 2 + 2 + 2 + len(self.provider_id) + 2 + len(self.key_name) + 2
        object.__setattr__(self, "_start", template[: start + 2])
        object.__setattr__(self, "_keys", template[keys_at : end_at - 2])  # up to the wrapped key's length
        end = template[end_at:]
        object.__setattr__(self, "_end", end[:-COMMITMENT_LENGTH] if self.version == 2 else end)

    @property
    def version(self) -> int:
        return 2 if self.suite >> 8 in (0x04, 0x05) else 1

    def serialize(self, message_id: bytes, wrapped: bytes, commitment: bytes = b"") -> bytes:
        """The header body for this message id, wrapped data key and (v2) commitment key."""
        return b"".join(
            (
                self._start,
                message_id,
                self._keys,
                struct.pack(">H", len(wrapped)),
                wrapped,
                self._end,
                commitment,
            )
        )


@dataclass(frozen=True, slots=True)
class HeaderPrefix:
    """The header up to and including its data keys; `end` is the offset just after the last data key."""

    version: int
    suite: int
    message_id: bytes
    prefix: bytes  # version .. encryption context, as written
    data_keys: tuple[EncryptedDataKey, ...]
    end: int


def read_prefix(message: bytes, max_data_keys: int | None = None) -> HeaderPrefix:
    """Version, suite, message id and data keys; MalformedHeader, or TooManyDataKeys before reading them."""
    r = HeaderReader(message)
    version = r.u8()
    if version == 1:
        if r.u8() != V1_TYPE:
            raise MalformedHeader("message type is not 0x80")
    elif version != 2:
        raise MalformedHeader(f"unknown message format version {version}")
    suite = r.u16()
    message_id = r.take(MESSAGE_ID_LENGTH[version])
    r.field()  # encryption context, kept as written
    prefix = message[: r.at]
    count = r.u16()
    if count == 0:
        raise MalformedHeader("no encrypted data keys")
    if max_data_keys is not None and count > max_data_keys:
        raise TooManyDataKeys(count, max_data_keys, suite)
    keys = tuple(EncryptedDataKey(r.field(), r.field(), r.field()) for _ in range(count))
    return HeaderPrefix(version, suite, message_id, prefix, keys, r.at)


@dataclass(frozen=True, slots=True)
class Header:
    """A whole header split where re-wrapping needs it; `prefix` + data keys + `suffix` is its body."""

    version: int
    suite: int
    message_id: bytes
    prefix: bytes  # version .. encryption context
    data_keys: tuple[EncryptedDataKey, ...]
    suffix: bytes  # content type .. frame length (and, in v2, the commitment key)
    header_iv: bytes  # v1: the header's IV (12 bytes); v2: empty (the IV is implied all-zero)
    header_tag: bytes
    rest: bytes  # body (and footer), untouched

    @property
    def commitment(self) -> bytes:
        """The v2 commitment key (empty in v1)."""
        return self.suffix[-COMMITMENT_LENGTH:] if self.version == 2 else b""

    @property
    def iv(self) -> bytes:
        """The IV the header tag was made with (v2's is implied all-zero)."""
        return self.header_iv or bytes(IV_LENGTH)

    def body_with(self, data_keys: Sequence[EncryptedDataKey]) -> bytes:
        """The header body with these data keys in place of its own (what the header tag covers)."""
        return self.prefix + encode_data_keys(data_keys) + self.suffix


def parse_header(message: bytes) -> Header:
    """The whole header of a framed or non-framed message; MalformedHeader when it cannot be read."""
    head = read_prefix(message)
    r = HeaderReader(message)
    r.at = head.end
    if r.u8() not in (0x01, FRAMED):
        raise MalformedHeader("unknown content type")
    if head.version == 1:
        r.take(4)  # reserved
        if r.u8() != IV_LENGTH:
            raise MalformedHeader("unexpected IV length")
        r.take(4)  # frame length
        suffix = message[head.end : r.at]
        header_iv = r.take(IV_LENGTH)
    else:
        r.take(4 + COMMITMENT_LENGTH)  # frame length, commitment key
        suffix = message[head.end : r.at]
        header_iv = b""
    tag = r.take(TAG_LENGTH)
    return Header(
        head.version,
        head.suite,
        head.message_id,
        head.prefix,
        head.data_keys,
        suffix,
        header_iv,
        tag,
        message[r.at :],
    )
