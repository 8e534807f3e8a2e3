"""Before anything is read or decrypted: who is calling, which route, which method.

The caller is known by `Proxy-Authorization: Bearer TOKEN`; the token's SHA-256 is compared with every
caller's in constant time (hmac.compare_digest, all of them, so timing tells nothing about which matched).
The request target is read raw, as sent: anything that an upstream or a path normaliser could read as a
different path than the prefix we matched (dot segments, encoded slashes or dots, backslashes, `@`, a
request target that is not origin-form) is refused, never normalised, so nothing escapes a route.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .errors import RevealRefused
from .routes import Caller, RevealConfig, Route

# encoded '/', '\', '.', '%' (double encoding) and '@' in the path: each lets a path mean two things
_ENCODED = re.compile(r"%(2[fFeE5]|5[cC]|40)")
_SEGMENTS_REFUSED = frozenset({".", ".."})


def authenticate(config: RevealConfig, header: str | None) -> Caller:
    """The caller the header's bearer token belongs to; 407 without one, 403 for an unknown token."""
    if not header:
        raise RevealRefused(407, "ProxyAuthenticationRequired", "no Proxy-Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RevealRefused(407, "ProxyAuthenticationRequired", "Proxy-Authorization is not a bearer token")
    digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).digest()
    found = None
    for caller in config.callers:
        if hmac.compare_digest(digest, caller.token_sha256):
            found = caller
    if found is None:
        raise RevealRefused(403, "CallerUnknown", "the bearer token belongs to no caller")
    return found


def check_target(raw_target: str) -> tuple[str, str]:
    """(path, query) of an origin-form target that means one thing only; 400 otherwise."""
    if not raw_target.startswith("/") or raw_target.startswith("//"):
        raise RevealRefused(400, "PathRefused", "the request target must be origin-form (/path)")
    path, _, query = raw_target.partition("?")
    if "\\" in path or "@" in path or _ENCODED.search(path):
        raise RevealRefused(400, "PathRefused", "the path holds '\\', '@' or an encoded '/', '\\', '.', '%'")
    segments = path.split("/")[1:]
    if any(s in _SEGMENTS_REFUSED for s in segments) or "" in segments[:-1]:
        raise RevealRefused(400, "PathRefused", "the path holds a dot segment or an empty segment")
    return path, query


def match(config: RevealConfig, path: str, caller: Caller, method: str) -> Route:
    """The route whose prefix `path` is under, if `caller` may use it with `method`."""
    for route in config.routes:
        if path.startswith(route.prefix):
            if caller.name not in route.callers:
                raise RevealRefused(403, "CallerNotAllowed", f"caller {caller.name} may not use {route.name}")
            if method not in route.methods:
                raise RevealRefused(405, "MethodNotAllowed", f"{method} is not allowed on {route.name}")
            return route
    raise RevealRefused(404, "NoSuchRoute", "the path is under no route's prefix")
