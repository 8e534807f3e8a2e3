"""Rewrite a multipart/form-data body (RFC 7578): encrypt the parts a profile names, keep every other byte.

A part is named by its `Content-Disposition: form-data; name="..."`, matched with the profile's
CloudFront field-name patterns exactly as sent (no percent-decoding, case-sensitive). A matching part's
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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from profiles import EncryptionEntity, Profile

from .errors import RequestRefused
from .forms import EncryptValue
from .limits import Limits

MAX_PROTECTED_FILE_BYTES = 1024 * 1024  # content bytes of one protected file part
MAX_PARTS = 1000
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(.*?)[ \t]*")
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
class _Part:
    name: str
    is_file: bool
    transfer_encoding: bytes | None
    has_length: bool
    content_start: int  # offsets into the body
    content_end: int


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


def _parse_part(body: bytes, start: int, end: int) -> _Part:
    head_end = body.find(b"\r\n\r\n", start, end)
    if body.startswith(b"\r\n", start) or head_end < 0:
        raise _malformed("a part has no headers or no blank line after them")
    disposition: bytes | None = None
    encoding: bytes | None = None
    has_length = False
    for line in body[start:head_end].split(b"\r\n"):
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
    return _Part(field_name, is_file, encoding, has_length, head_end + 4, end)


def parse(body: bytes, boundary: bytes) -> list[_Part]:
    """The parts of `body`, strictly; RequestRefused for anything another parser might read differently."""
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        raise _malformed("the body must start with the boundary (no preamble)")
    separator = b"\r\n" + delimiter
    parts: list[_Part] = []
    at = len(delimiter)
    while True:
        if body.startswith(b"--", at):
            if body[at + 2 :] not in (b"", b"\r\n"):
                raise _malformed("nothing but CRLF may follow the close delimiter")
            return parts
        if not body.startswith(b"\r\n", at):
            raise _malformed("a boundary delimiter must be followed by CRLF or --")
        start = at + 2
        end = body.find(separator, start)
        if end < 0:
            raise _malformed("the body has no close delimiter")
        if len(parts) >= MAX_PARTS:
            raise _malformed(f"more than {MAX_PARTS} parts")
        parts.append(_parse_part(body, start, end))
        at = end + len(separator)


def rewrite(
    body: bytes, content_type: str, profile: Profile, encrypt_value: EncryptValue, limits: Limits
) -> tuple[bytes, int]:
    """Return the rewritten body and the number of parts encrypted; RequestRefused when it must not pass."""
    parts = parse(body, boundary_of(content_type))
    selected: list[tuple[_Part, EncryptionEntity]] = []
    for part in parts:
        entity = profile.entity_for(part.name)
        if entity is None:
            continue
        if part.transfer_encoding is not None and part.transfer_encoding not in _IDENTITY_ENCODINGS:
            raise RequestRefused(
                400,
                "UnsupportedTransferEncodingClientError",
                "a protected part has a Content-Transfer-Encoding other than 7bit, 8bit or binary",
            )
        if part.has_length:
            raise _malformed("a protected part may not carry its own Content-Length")
        limit = MAX_PROTECTED_FILE_BYTES if part.is_file else limits.max_field_bytes
        if part.content_end - part.content_start > limit:
            raise RequestRefused(
                400, "FieldLengthLimitClientError", f"a protected part is longer than {limit} bytes"
            )
        selected.append((part, entity))
    if len(selected) > limits.max_encrypted_fields:
        raise RequestRefused(
            400,
            "FieldNumberLimitClientError",
            f"more than {limits.max_encrypted_fields} protected fields in one request",
        )
    pieces: list[bytes] = []
    done = 0
    for part, entity in selected:
        pieces += [
            body[done : part.content_start],
            encrypt_value(body[part.content_start : part.content_end], entity),
        ]
        done = part.content_end
    pieces.append(body[done:])
    return b"".join(pieces), len(selected)
