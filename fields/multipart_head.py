"""The strict grammar of a multipart/form-data body's boundary and part headers (docs/security.md).

What origin parsers read from a part's headers decides which field a part is: a proxy that reads a
different `name` than the origin forwards a protected value as unprotected. So only the subset every
parser reads the same is accepted, everything else refused with 400 (`MalformedMultipartClientError`
unless said otherwise):

    part-head    = 1*( header CRLF )             ; the CRLF that ends the last header is followed by CRLF
    header       = field-name ":" OWS value OWS  ; no bare CR or LF, no control character but HTAB
    field-name   = "Content-Disposition" / "Content-Type" / "Content-Transfer-Encoding"   ; any case
    Content-Disposition (exactly once) = "form-data" *( OWS ";" OWS parameter )
        parameters `name` (required, not empty) and `filename` (optional) only, each once; values a
        token or a quoted string without `;`, `=`, `:` or a backslash (a parser that does not know
        quoted strings would re-synchronise inside them) and not starting with `'` (PHP's parser takes
        `name='phone'` as a quoted `phone`); the name valid UTF-8
    Content-Type (at most once)        = strictly parsed by fields/header_params.py, quoted values
        without `;`, `=` or `:` either
    Content-Transfer-Encoding (at most once) = "7bit" / "8bit" / "binary"    ; else 400
        UnsupportedTransferEncodingClientError: the proxy will not guess whether the origin decodes it

A part's own Content-Length (which a parser could use to skip over a delimiter) and every other header
are refused on every part, protected or not. Each check is a scan in linear time (the old header regex
backtracked quadratically on a line of many spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .body_format import BodyFormat
from .content_type import strict_content_type
from .errors import Reason, RequestRefused
from .header_params import HeaderParamError, HeaderValue, parse_content_type, parse_disposition

# RFC 2046 bchars without the space (parsers trim a boundary's spaces differently) and without the comma
# (Rack 2.2 reads `boundary="a,b"` as `a`: a body framed with `--a,b` then hides `--a` parts from us).
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_\-./:=?]{1,70}")
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_IDENTITY_ENCODINGS = {b"7bit", b"8bit", b"binary"}
_HEADERS = {b"content-disposition", b"content-type", b"content-transfer-encoding"}
_DISPOSITION_PARAMS = frozenset({"name", "filename"})


def malformed(detail: str) -> RequestRefused:
    return RequestRefused(Reason.MALFORMED_MULTIPART, detail)


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart Content-Type header; RequestRefused when the header may not pass.

    The header is read by `content_type.strict_content_type` (parameters `boundary` and `charset` only,
    charset UTF-8); the boundary must be 1-70 RFC 2046 characters without spaces or commas, and PHP must
    read the same boundary from the header (`_php_boundary`).
    """
    boundary = strict_content_type(content_type, BodyFormat.MULTIPART).param("boundary")
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        raise malformed(
            "multipart/form-data needs one valid boundary parameter "
            "(1-70 RFC 2046 characters, no space or comma)"
        )
    if _php_boundary(content_type) != boundary:
        raise malformed("PHP would read another boundary from this Content-Type")
    return boundary.encode("ascii")


def _php_boundary(content_type: str) -> str | None:
    """The boundary PHP (main/rfc1867.c) reads: it searches the header for the text `boundary`.

    Case-sensitively first, then in the lower-cased header; the value starts after the next `=` and
    runs to the closing quote, or unquoted to the next `,` or `;` (trailing spaces included). So
    `BOUNDARY="xboundary=y"` is `y"` to PHP, and `boundary=abc ;charset=utf-8` is `abc ` (both seen
    with php-cli 8.2); a body framed for one reading hides parts from the other.
    """
    at = content_type.find("boundary")
    if at < 0:
        at = content_type.lower().find("boundary")
    equals = content_type.find("=", at) if at >= 0 else -1
    if equals < 0:
        return None
    value = content_type[equals + 1 :]
    if value.startswith('"'):
        close = value.find('"', 1)
        return value[1:close] if close >= 0 else None
    cut = [i for i in (value.find(","), value.find(";")) if i >= 0]
    return value[: min(cut)] if cut else value


@dataclass(frozen=True, slots=True)
class PartHead:
    """What the proxy needs from one part's headers."""

    name: str
    is_file: bool


def _disposition(value: bytes) -> PartHead:
    try:
        parsed = parse_disposition(value.decode("utf-8"))
    except UnicodeDecodeError:
        raise malformed("a part's Content-Disposition is not valid UTF-8") from None
    except HeaderParamError as e:
        raise malformed(f"Content-Disposition: {e}") from None
    if parsed.kind != "form-data":
        raise malformed("every part needs Content-Disposition: form-data")
    if not parsed.names <= _DISPOSITION_PARAMS:
        raise malformed("Content-Disposition may carry only the parameters name and filename")
    name = parsed.param("name")
    if not name:  # Rack 2.2 names a part with an empty name after its filename (or its Content-Type)
        raise malformed("a part has no name, or an empty one")
    _no_resync(parsed, "Content-Disposition")
    if any(text.startswith("'") for _, text in parsed.params):  # PHP 8.2 reads name='phone' as phone
        raise malformed("a Content-Disposition value starts with a single quote (PHP reads it as a quote)")
    return PartHead(name, parsed.param("filename") is not None)


def _no_resync(parsed: HeaderValue, header: str) -> None:
    r"""Refuse `;`, `=` and `:` in parameter values: parsers that ignore quotes re-synchronise on them.

    `name="x; name=phone"` is two parameters to a splitter; Rack 2.2 finds a part's name with the regex
    `Content-Disposition:[^:]*;\s*name=` anywhere in the part's head, so a colon in a quoted filename
    hides the real name from it (it then takes the filename), and `Content-Disposition: ...; name=phone`
    inside a quoted Content-Type value is the name it reads (both checked with Rack 2.2.22).
    """
    if any(c in text for _, text in parsed.params for c in ";=:"):
        raise malformed(f"a {header} value holds ';', '=' or ':' (parsers re-synchronise on them)")


def parse_head(block: bytes) -> PartHead:
    """Parse a part's header lines (without the CRLF CRLF that ends them); RequestRefused if not strict."""
    values: dict[bytes, bytes] = {}
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise malformed("a part header is malformed or folded")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise malformed("a part header holds a bare CR or LF or a control character")
        name = name.lower()
        if name == b"content-length":
            raise malformed("a part may not carry its own Content-Length")
        if name not in _HEADERS:
            raise malformed(
                "a part may carry only Content-Disposition, Content-Type and Content-Transfer-Encoding"
            )
        if name in values:
            raise malformed("a part has a header twice")
        values[name] = value.strip(b" \t")
    disposition = values.get(b"content-disposition")
    if disposition is None:
        raise malformed("a part has no Content-Disposition")
    part_type = values.get(b"content-type")
    if part_type is not None:
        try:
            parsed_type = parse_content_type(part_type.decode("ascii"))
        except (UnicodeDecodeError, HeaderParamError):
            raise malformed("a part's Content-Type is malformed") from None
        _no_resync(parsed_type, "part's Content-Type")
    encoding = values.get(b"content-transfer-encoding")
    if encoding is not None and encoding.lower() not in _IDENTITY_ENCODINGS:
        raise RequestRefused(
            Reason.UNSUPPORTED_TRANSFER_ENCODING,
            "a part has a Content-Transfer-Encoding other than 7bit, 8bit or binary",
        )
    return _disposition(disposition)
