"""Rewrite a multipart/form-data body (RFC 7578): encrypt the parts a profile names, keep every other byte.

A part is named by its `Content-Disposition: form-data; name="..."`, matched with the profile's
CloudFront field-name patterns as sent, and also as any origin framework could read it (`names.py`:
case-insensitive, `phone[]`, percent- or RFC 2047-decoded, ...). A matching part's
whole content is replaced by the base64 text of one message holding the content bytes as sent: no
charset conversion (the decrypted bytes are in whatever charset the client used) and no transfer
decoding. Text parts may hold `Limits.max_field_bytes`; file parts (those with a `filename`) up to
`MAX_PROTECTED_FILE_BYTES`. The boundary, every delimiter and every part header are kept byte for byte,
including the protected part's own `Content-Type`, which then describes the plaintext, not the base64.

Refused with 400, before anything is encrypted, whenever parsers could disagree on what the body holds:
no or invalid boundary parameter, a preamble or an epilogue other than one CRLF, a delimiter not followed
by CRLF or `--`, no close delimiter, a part without exactly one form-data Content-Disposition with a name,
folded or malformed part headers, a `name*` parameter or a backslash in a quoted name. A protected part
with a Content-Transfer-Encoding other than 7bit/8bit/binary, or with its own Content-Length, is refused
too (the proxy will not guess whether the origin decodes it).

`MultipartRewriter` works on chunks, so unprotected parts can be streamed; `rewrite` feeds it a whole body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from profiles import EncryptionEntity, Profile

from .errors import RequestRefused
from .forms import EncryptValue
from .limits import Limits
from .names import entity_for

MAX_PROTECTED_FILE_BYTES = 1024 * 1024  # content bytes of one protected file part
MAX_PARTS = 1000
MAX_HEAD_BYTES = 16 * 1024  # bytes of one part's headers
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([^\r\n]*?)[ \t]*")
_PARAM = re.compile(rb";[ \t]*(" + _TOKEN + rb")[ \t]*=[ \t]*(\"[^\"]*\"|" + _TOKEN + rb")[ \t]*")
_IDENTITY_ENCODINGS = {b"7bit", b"8bit", b"binary"}


def _malformed(detail: str) -> RequestRefused:
    return RequestRefused(400, "MalformedMultipartClientError", detail)


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type header; RequestRefused when absent or invalid."""
    message = Message()
    message["Content-Type"] = content_type
    params = [k.lower() for k, _ in message.get_params() or []]
    boundary = message.get_param("boundary")
    if params.count("boundary") != 1 or not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
        raise _malformed("multipart/form-data needs one valid boundary parameter (RFC 2046: 1-70 characters)")
    return boundary.encode("ascii")


@dataclass(frozen=True, slots=True)
class _Head:
    """What the proxy needs from one part's headers."""

    name: str
    is_file: bool
    transfer_encoding: bytes | None
    has_length: bool


def _parse_disposition(value: bytes) -> tuple[str, bool]:
    kind, _, rest = value.partition(b";")
    if kind.strip().lower() != b"form-data":
        raise _malformed("every part needs Content-Disposition: form-data")
    params: dict[bytes, bytes] = {}
    rest = b";" + rest if rest else b""
    at = 0
    while at < len(rest):
        match = _PARAM.match(rest, at)
        if not match:
            raise _malformed("malformed Content-Disposition parameters")
        key = match.group(1).lower()
        if key in params:
            raise _malformed("a Content-Disposition parameter appears twice")
        params[key] = match.group(2)
        at = match.end()
    if b"name*" in params:
        raise _malformed("name* in Content-Disposition is not accepted (parsers disagree on it)")
    raw_name = params.get(b"name")
    if raw_name is None:
        raise _malformed("a part has no name")
    if raw_name.startswith(b'"'):
        raw_name = raw_name[1:-1]
        if b"\\" in raw_name:
            raise _malformed("a backslash in a quoted part name is ambiguous")
    return raw_name.decode("utf-8", errors="replace"), (b"filename" in params or b"filename*" in params)


def _parse_head(block: bytes) -> _Head:
    """Parse a part's header lines (without the blank line that ends them)."""
    disposition: bytes | None = None
    encoding: bytes | None = None
    has_length = False
    for line in block.split(b"\r\n"):
        match = _HEADER.fullmatch(line)
        if not match:
            raise _malformed("a part header is malformed or folded")
        name = match.group(1).lower()
        if name == b"content-disposition":
            if disposition is not None:
                raise _malformed("a part has Content-Disposition twice")
            disposition = match.group(2)
        elif name == b"content-transfer-encoding":
            if encoding is not None:
                raise _malformed("a part has Content-Transfer-Encoding twice")
            encoding = match.group(2).lower()
        elif name == b"content-length":
            has_length = True
    if disposition is None:
        raise _malformed("a part has no Content-Disposition")
    field_name, is_file = _parse_disposition(disposition)
    return _Head(field_name, is_file, encoding, has_length)


class MultipartRewriter:
    """Rewrites a multipart/form-data body incrementally: `feed` chunks as they arrive, then `close`.

    Each call returns the bytes that may be sent on: unprotected content as soon as it is known not to be
    part of a delimiter, a protected part (headers and content) only once it is complete and encrypted.
    Any RequestRefused leaves the rewriter unusable; bytes already returned were checked and hold no
    protected plaintext.
    """

    def __init__(
        self, content_type: str, profile: Profile, encrypt_value: EncryptValue, limits: Limits
    ) -> None:
        self._delimiter = b"--" + boundary_of(content_type)
        self._separator = b"\r\n" + self._delimiter
        self._profile = profile
        self._encrypt = encrypt_value
        self._limits = limits
        self._buffer = bytearray()
        self._state = "start"  # start -> after -> (head -> content -> after)* -> end
        self._parts = 0
        self.encrypted = 0
        self._held_head = b""  # a protected part's header bytes, sent with its ciphertext
        self._held: bytearray | None = None  # a protected part's content, None for an unprotected part
        self._held_entity: EncryptionEntity | None = None
        self._held_limit = 0

    def feed(self, chunk: bytes) -> bytes:
        """Take the next bytes of the body; return the rewritten bytes that may be sent now."""
        self._buffer += chunk
        out = bytearray()
        while self._step(out):
            pass
        return bytes(out)

    def close(self) -> bytes:
        """The body has ended: return the last bytes, or refuse an incomplete body."""
        if self._state != "end":
            raise _malformed("the body has no close delimiter")
        if self._buffer not in (b"", b"\r\n"):
            raise _malformed("nothing but CRLF may follow the close delimiter")
        return bytes(self._buffer)

    def _step(self, out: bytearray) -> bool:
        buffer = self._buffer
        if self._state == "start":
            size = len(self._delimiter)
            if not self._delimiter.startswith(bytes(buffer[:size])):
                raise _malformed("the body must start with the boundary (no preamble)")
            if len(buffer) < size:
                return False
            out += buffer[:size]
            del buffer[:size]
            self._state = "after"
            return True
        if self._state == "after":  # right after a delimiter: CRLF and a part, or -- and the end
            if len(buffer) < 2:
                return False
            if buffer[:2] not in (b"\r\n", b"--"):
                raise _malformed("a boundary delimiter must be followed by CRLF or --")
            self._state = "head" if buffer[:2] == b"\r\n" else "end"
            out += buffer[:2]
            del buffer[:2]
            return True
        if self._state == "head":
            return self._head(out)
        if self._state == "content":
            return self._content(out)
        if len(buffer) > 2 or not b"\r\n".startswith(bytes(buffer)):  # "end": only CRLF may follow
            raise _malformed("nothing but CRLF may follow the close delimiter")
        return False

    def _head(self, out: bytearray) -> bool:
        buffer = self._buffer
        if buffer[:2] == b"\r\n":
            raise _malformed("a part has no headers")
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise _malformed(f"a part's headers are longer than {MAX_HEAD_BYTES} bytes")
            return False
        head = bytes(buffer[: end + 4])
        if head.startswith(self._delimiter) or self._separator in head:
            raise _malformed("a part has no blank line before the next delimiter")
        del buffer[: end + 4]
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise _malformed(f"more than {MAX_PARTS} parts")
        part = _parse_head(head[:end])
        entity = entity_for(self._profile, part.name)
        if entity is None:
            out += head
        else:
            self._protect(part, entity, head)
        self._state = "content"
        return True

    def _protect(self, part: _Head, entity: EncryptionEntity, head: bytes) -> None:
        if part.transfer_encoding is not None and part.transfer_encoding not in _IDENTITY_ENCODINGS:
            raise RequestRefused(
                400,
                "UnsupportedTransferEncodingClientError",
                "a protected part has a Content-Transfer-Encoding other than 7bit, 8bit or binary",
            )
        if part.has_length:
            raise _malformed("a protected part may not carry its own Content-Length")
        self.encrypted += 1
        if self.encrypted > self._limits.max_encrypted_fields:
            raise RequestRefused(
                400,
                "FieldNumberLimitClientError",
                f"more than {self._limits.max_encrypted_fields} protected fields in one request",
            )
        self._held_head = head
        self._held = bytearray()
        self._held_entity = entity
        self._held_limit = MAX_PROTECTED_FILE_BYTES if part.is_file else self._limits.max_field_bytes

    def _content(self, out: bytearray) -> bool:
        buffer = self._buffer
        end = buffer.find(self._separator)
        # Without a delimiter in sight, keep back what could be the start of one.
        size = end if end >= 0 else max(0, len(buffer) - len(self._separator) + 1)
        if self._held is None:
            out += buffer[:size]
        else:
            self._held += buffer[:size]
            if len(self._held) > self._held_limit:
                raise RequestRefused(
                    400,
                    "FieldLengthLimitClientError",
                    f"a protected part is longer than {self._held_limit} bytes",
                )
        del buffer[:size]
        if end < 0:
            return False
        if self._held is not None:
            assert self._held_entity is not None
            out += self._held_head
            out += self._encrypt(bytes(self._held), self._held_entity)
            self._held = None
        out += self._separator
        del buffer[: len(self._separator)]
        self._state = "after"
        return True


def rewrite(
    body: bytes, content_type: str, profile: Profile, encrypt_value: EncryptValue, limits: Limits
) -> tuple[bytes, int]:
    """Return the rewritten body and the number of parts encrypted; RequestRefused when it must not pass."""
    rewriter = MultipartRewriter(content_type, profile, encrypt_value, limits)
    rewritten = rewriter.feed(body) + rewriter.close()
    return rewritten, rewriter.encrypted
