"""The Content-Type a body under a profile may carry: strictly parsed, allow-listed parameters, UTF-8 only.

A profile's format says how the proxy reads the body; the origin reads it by the Content-Type, with its
own parser. Every parameter the proxy lets through is one more thing the two could read differently, so
under a profile only these are accepted (each at most once; `fields/header_params.py` refuses
duplicates, escapes and RFC 2231 forms before this runs):

| format | parameters |
| --- | --- |
| URLEncoded | `charset` |
| JSON | `charset` |
| Multipart | `boundary` (required, see `multipart.boundary_of`), `charset` |

`charset`, when present, must be `utf-8` (any case, quoted or not): body-parser decodes a JSON body as
UTF-7 through iconv-lite, PHP and Werkzeug read forms in the declared charset, and the proxy matched and
encrypted UTF-8 bytes. An unknown parameter is refused rather than ignored: PHP finds `boundary` by a
substring search anywhere in the header, so an ignored `x="boundary=..."` could frame the body for it.
"""

from __future__ import annotations

from functools import lru_cache

from .body_format import BodyFormat
from .errors import Reason, RequestRefused
from .header_params import HeaderParamError, HeaderValue, parse_request_content_type

_ALLOWED = {
    BodyFormat.URL_ENCODED: frozenset({"charset"}),
    BodyFormat.JSON: frozenset({"charset"}),
    BodyFormat.MULTIPART: frozenset({"boundary", "charset"}),
}


def strict_content_type(content_type: str, body_format: BodyFormat) -> HeaderValue:
    """The parsed Content-Type of a body read as `body_format`; RequestRefused when it may not pass.

    Cached as `parse_request_content_type` is (the same few values arrive again and again; the answer is
    a frozen record): a refusal raises, so it is never cached and is checked again every time."""
    return _strict_content_type(content_type, body_format)


@lru_cache(maxsize=256)
def _strict_content_type(content_type: str, body_format: BodyFormat) -> HeaderValue:
    try:
        parsed = parse_request_content_type(content_type)
    except HeaderParamError as e:
        raise RequestRefused(Reason.MALFORMED_CONTENT_TYPE, str(e)) from None
    allowed = _ALLOWED.get(body_format, frozenset())
    if not parsed.names <= allowed:
        raise RequestRefused(
            Reason.MALFORMED_CONTENT_TYPE,
            f"a {body_format.value} body's Content-Type may carry only: {', '.join(sorted(allowed))}",
        )
    charset = parsed.param("charset")
    if charset is not None and charset.lower() != "utf-8":
        detail = f"a {body_format.value} body must be UTF-8"
        raise RequestRefused(Reason.UNSUPPORTED_CHARSET, detail)
    return parsed
