"""Before anything is read or decrypted: who is calling, which route, which method.

The caller is known by `Proxy-Authorization: Bearer TOKEN`; the token's SHA-256 is compared with every
caller's in constant time (hmac.compare_digest, all of them, so timing tells nothing about which matched).
The request target is read raw, as sent: anything that an upstream or a path normaliser could read as a
different path than the prefix we matched (dot segments, path parameters `;`, encoded slashes or dots,
backslashes, `@`, overlong UTF-8, compatibility characters, a request target that is not origin-form) is
refused, never normalised, so nothing escapes a route (docs/reveal.md, "Path rules").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
import unicodedata
import urllib.parse

from fields.refusals import Reason

from .errors import RevealRefused
from .routes import Caller, RevealConfig, Route

# RFC 3986's path characters (pchar and '/'), less '@' (reads as userinfo to some parsers) and ';' (a path
# parameter to Tomcat and Jetty, which cut the segment there: `..;` is `..` to them); '%' only as an escape
_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,=:/%")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# an escaped byte below 0x80 may be anything printable but what changes a path once decoded: '.', '/', '\',
# '%' (decoded twice), ';', '@'; and never a control (NUL cuts a path short in C, CR/LF split lines)
_ESCAPED_REFUSED = frozenset(b"./\\%;@") | frozenset(range(0x20)) | {0x7F}
_NAMED = {";": "a ';' (a path parameter: Tomcat and Jetty cut the segment there, so '..;' is '..')",
          "\\": "a '\\' (a '/' to some servers)", "@": "an '@'", "#": "a '#'"}  # fmt: skip


def _refused(why: str) -> RevealRefused:
    return RevealRefused(Reason.PATH_REFUSED, f"the path holds {why}")


def authenticate(config: RevealConfig, header: str | None) -> Caller:
    """The caller the header's bearer token belongs to; 407 without one, 403 for an unknown token."""
    if not header:
        raise RevealRefused(Reason.PROXY_AUTHENTICATION_REQUIRED, "no Proxy-Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RevealRefused(Reason.PROXY_AUTHENTICATION_REQUIRED, "Proxy-Authorization is not a bearer token")
    digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).digest()
    found = None
    for caller in config.callers:
        if hmac.compare_digest(digest, caller.token_sha256):
            found = caller
    if found is None:
        raise RevealRefused(Reason.CALLER_UNKNOWN, "the bearer token belongs to no caller")
    return found


def check_target(raw_target: str) -> tuple[str, str]:
    """(path, query) of an origin-form target that means one thing only to every server; 400 otherwise.

    The path may hold only RFC 3986 path characters; the rest is refused, not normalised, before anything
    is read or decrypted: `;` (path parameters), `\\`, `@`, any raw byte outside printable ASCII, a `%`
    that is not an escape, an escaped '.', '/', '\\', '%', ';', '@' or control byte, escaped bytes that are
    not shortest-form UTF-8 (overlong '.' %c0%ae), a character that Unicode compatibility normalisation
    (NFKC) changes (fullwidth '．', '／'), a dot segment (`.`, `..`, `...`) and an empty segment (`//`).
    """
    if not raw_target.startswith("/") or raw_target.startswith("//"):
        raise RevealRefused(Reason.PATH_REFUSED, "the request target must be origin-form (/path)")
    path, _, query = raw_target.partition("?")
    if not set(path) <= _PATH_CHARS:
        odd = next(c for c in path if c not in _PATH_CHARS)
        if odd in _NAMED:
            raise _refused(_NAMED[odd])
        if not " " < odd < "\x7f":
            raise _refused("a raw byte outside printable ASCII (it must be percent-encoded UTF-8)")
        raise _refused(f"{odd!r}, which is not a path character (RFC 3986)")
    if "%" in path:
        _check_escapes(path)
    segments = path.split("/")[1:]
    if any(s and not s.strip(".") for s in segments):
        raise _refused("a dot segment ('.', '..')")
    if "" in segments[:-1]:
        raise _refused("an empty segment ('//')")
    return path, query


def _check_escapes(path: str) -> None:
    if _BAD_ESCAPE.search(path):
        raise _refused("a '%' that is not followed by two hex digits")
    escaped = [int(e[1:], 16) for e in _ESCAPE.findall(path)]
    if any(b in _ESCAPED_REFUSED for b in escaped):
        raise _refused("an encoded '.', '/', '\\', '%', ';', '@' or control byte")
    if all(b < 0x80 for b in escaped):
        return
    try:
        text = urllib.parse.unquote_to_bytes(path).decode("utf-8")  # strict: no overlong form, no surrogate
    except UnicodeDecodeError:
        raise _refused("encoded bytes that are not shortest-form UTF-8 (e.g. an overlong '.')") from None
    if not text.isprintable() or unicodedata.normalize("NFKC", text) != text:
        raise _refused("an encoded character that is not printable or that NFKC normalisation changes")


def claimed_route(config: RevealConfig, raw_target: str) -> str | None:
    """The name of the route whose prefix a refused target starts with, for its audit line (None: none)."""
    return next((route.name for route in config.routes if raw_target.startswith(route.prefix)), None)


def match(config: RevealConfig, path: str, caller: Caller, method: str) -> Route:
    """The route whose prefix `path` is under, if `caller` may use it with `method`."""
    for route in config.routes:
        if path.startswith(route.prefix):
            if caller.name not in route.callers:
                raise RevealRefused(
                    Reason.CALLER_NOT_ALLOWED, f"caller {caller.name} may not use {route.name}"
                )
            if method not in route.methods:
                raise RevealRefused(Reason.METHOD_NOT_ALLOWED, f"{method} is not allowed on {route.name}")
            return route
    raise RevealRefused(Reason.NO_SUCH_ROUTE, "the path is under no route's prefix")
