"""One strict reader of `Content-Type` and `Content-Disposition` values (RFC 9110 section 5.6.6 parameters).

Origin frameworks read header parameters with parsers that disagree at the edges of the grammar: busboy,
Werkzeug, aiohttp and Python's email package each read backslash escapes (quoted-pair) their own way,
RFC 2231/8187 forms (`name*`, `name*0`, `name*0*`) are honoured by some and ignored by others, and which
copy of a duplicate parameter wins differs. A proxy that reads `boundary`, `charset` or a part's `name`
one way while the origin reads another can forward a protected value it never saw. So the proxy reads
these headers with this one parser, which accepts only the subset where all of them agree:

    content-type  = OWS type "/" subtype *( OWS ";" OWS parameter ) OWS
    disposition   = OWS disposition-type *( OWS ";" OWS parameter ) OWS
    parameter     = token "=" ( token / quoted-string )        ; no whitespace around "="
    quoted-string = DQUOTE *qdtext DQUOTE
    qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E       ; no backslash: no quoted-pair
                    [ / any non-ASCII character, Content-Disposition only (the caller decoded UTF-8) ]
    token         = 1*tchar                                      ; RFC 9110 tchar

and refuses (HeaderParamError) everything else, among it: a parameter name twice (case-insensitively), a
name containing `*`, an empty parameter (`;;`, a trailing `;`), a quoted string that does not close or is
followed by anything but OWS and `;`, control characters, and non-ASCII characters in a Content-Type.

It is a hand-written scanner: each step matches one character class at a known position (a regular
expression with no alternative to try again), so the time is linear in the length of the value.
Types and parameter names are returned in lower case; values as sent (unquoted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWS = re.compile(r"[ \t]*")
_QDTEXT = re.compile(r"[\t !#-\[\]-~]*")
_QDTEXT_UTF8 = re.compile(r"[\t !#-\[\]-~\x80-\U0010ffff]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _after_ows(value: str, at: int) -> int:
    """Where the optional whitespace (spaces, tabs) starting at `at` ends."""
    ows = _OWS.match(value, at)
    return ows.end() if ows else at  # never None: the pattern matches the empty string


class HeaderParamError(ValueError):
    """A header value falls outside the strict grammar; the message says why, never quoting the value."""


@dataclass(frozen=True, slots=True)
class HeaderValue:
    """A parsed header: `kind` is the lower-case media type or disposition type, `params` in order sent."""

    kind: str
    params: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        """The value of parameter `name` (lower case), or None when it is absent."""
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.params)


def parse_content_type(value: str) -> HeaderValue:
    """Parse a Content-Type value strictly: `type/subtype` and parameters; HeaderParamError otherwise."""
    if not value.isascii():
        raise HeaderParamError("a Content-Type may hold only ASCII characters")
    return _parse(value, media_type=True, utf8=False)


@lru_cache(maxsize=256)  # few distinct values, each under the 8 KB header limit; refusals are not cached
def parse_request_content_type(value: str) -> HeaderValue:
    """`parse_content_type` of a request's Content-Type, cached: it is read to select and to rewrite.

    Part headers use `parse_content_type`: up to 16 KB each and as many as the attacker likes.
    """
    return parse_content_type(value)


def parse_disposition(value: str) -> HeaderValue:
    """Parse a (multipart part's) Content-Disposition value strictly; quoted values may hold non-ASCII."""
    return _parse(value, media_type=False, utf8=True)


def _token(value: str, at: int, what: str) -> tuple[str, int]:
    match = _TOKEN.match(value, at)
    if match is None:
        raise HeaderParamError(f"{what} is not a token")
    return match.group(), match.end()


def _parse(value: str, *, media_type: bool, utf8: bool) -> HeaderValue:
    if _CONTROL.search(value):
        raise HeaderParamError("a control character in a header value")
    end = len(value)
    kind, at = _token(value, _after_ows(value, 0), "the type")
    if media_type:
        if value[at : at + 1] != "/":
            raise HeaderParamError("the media type is not type/subtype")
        subtype, at = _token(value, at + 1, "the subtype")
        kind = f"{kind}/{subtype}"
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    while True:
        at = _after_ows(value, at)
        if at == end:
            return HeaderValue(kind.lower(), tuple(params))
        if value[at] != ";":
            raise HeaderParamError("only OWS and ';' may follow the type or a parameter")
        at = _after_ows(value, at + 1)
        if at == end or value[at] == ";":
            raise HeaderParamError("an empty parameter")
        name, at = _token(value, at, "a parameter name")
        name = name.lower()
        if "*" in name:
            raise HeaderParamError("an RFC 2231/8187 parameter (a name with '*') is not accepted")
        if name in seen:
            raise HeaderParamError(f"the parameter {name!r} appears twice")
        seen.add(name)
        if value[at : at + 1] != "=":
            raise HeaderParamError("a parameter needs '=' right after its name")
        at += 1
        if value[at : at + 1] == '"':
            close = value.find('"', at + 1)
            if close < 0:
                raise HeaderParamError("a quoted string does not close")
            text = value[at + 1 : close]
            if "\\" in text:
                raise HeaderParamError("a backslash in a quoted string (parsers read escapes differently)")
            if not (_QDTEXT_UTF8 if utf8 else _QDTEXT).fullmatch(text):
                raise HeaderParamError("a quoted string holds a character it may not")
            at = close + 1
        else:
            text, at = _token(value, at, "a parameter value (right after '=')")
        params.append((name, text))
