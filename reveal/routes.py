"""The routes file (TOML): who may call ([[caller]]) and where plaintext may go ([[route]]).

Everything is validated at load, so a request never meets a half-valid route: an error names the file,
the entry (`route[1]`) and the field. The file holds no secret: a caller is known by the SHA-256 of its
bearer token. A route's upstream must be https, except on loopback (tests, a sidecar on the same host).
"""

from __future__ import annotations

import ipaddress
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from fields.json_pointer import JsonPointerPattern, is_pointer_pattern, parse_pointer_pattern
from fields.patterns import FieldPattern
from fields.selection import Selection
from profiles import parse_pattern

from .errors import RoutesError

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Caller:
    """A caller: its name (audit lines) and the SHA-256 of its token (raw 32 bytes)."""

    name: str
    token_sha256: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Route:
    """Requests under `prefix` go to `upstream` (the rest of the path appended), `reveal` fields decrypted."""

    name: str
    prefix: str
    upstream: URL
    methods: frozenset[str]
    names: tuple[FieldPattern, ...]  # form / multipart field names
    pointers: tuple[JsonPointerPattern, ...]  # JSON pointers
    keys: frozenset[tuple[str, str]]  # (provider id, key name)
    callers: frozenset[str]
    ssl_context: ssl.SSLContext | None = field(repr=False, compare=False)  # None: plain http on loopback
    # the names and pointers compiled for the codecs when the route loads, each tagged with its field text
    selection: Selection[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        selection = Selection.compile(
            names=[(p, p.text) for p in self.names], pointers=[(p, p.text) for p in self.pointers]
        )
        object.__setattr__(self, "selection", selection)


@dataclass(frozen=True, slots=True)
class RevealConfig:
    """A loaded routes file."""

    callers: tuple[Caller, ...]
    routes: tuple[Route, ...]
    source: Path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Entry:
    """One [[caller]] or [[route]] table, read field by field with errors that say where."""

    def __init__(self, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise RoutesError(f"{where}: must be a table")
        self.table = table
        self.where = where

    def error(self, name: str, message: str) -> RoutesError:
        return RoutesError(f"{self.where}: {name}: {message}")

    def text(self, name: str, optional: bool = False) -> str:
        value = self.table.get(name)
        if value is None and optional:
            return ""
        if not isinstance(value, str) or not value:
            raise self.error(name, "must be a non-empty string")
        return value

    def texts(self, name: str, optional: bool = False) -> list[str]:
        value = self.table.get(name, [] if optional else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(name, "must be a list of non-empty strings")
        if not value and not optional:
            raise self.error(name, "must not be empty")
        return value

    def no_others(self, known: set[str]) -> None:
        unknown = sorted(set(self.table) - known)
        if unknown:
            raise RoutesError(f"{self.where}: unknown field(s) {', '.join(unknown)}")


def _caller(entry: _Entry) -> Caller:
    entry.no_others({"name", "token_sha256"})
    digest = entry.text("token_sha256").lower()
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise entry.error("token_sha256", "must be 64 hex digits (the SHA-256 of the bearer token)")
    return Caller(entry.text("name"), bytes.fromhex(digest))


def _upstream(entry: _Entry, base_dir: Path) -> tuple[URL, ssl.SSLContext | None]:
    text = entry.text("upstream")
    try:
        url = URL(text)
    except ValueError as e:
        raise entry.error("upstream", f"not a URL: {e}") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise entry.error("upstream", "must be an absolute https:// URL")
    if url.scheme == "http" and not is_loopback(url.host):
        raise entry.error("upstream", "must be https (plain http is allowed on loopback only)")
    if url.user or url.password or url.query_string or url.fragment:
        raise entry.error("upstream", "must not hold credentials, a query or a fragment")
    if not url.raw_path.endswith("/"):
        raise entry.error("upstream", "must end with '/' (the rest of the request path is appended)")
    ca_file = entry.text("ca_file", optional=True)
    if url.scheme == "http":
        if ca_file:
            raise entry.error("ca_file", "given for a plain http upstream")
        return url, None
    path = base_dir / ca_file if ca_file else None
    try:
        context = ssl.create_default_context(cafile=str(path) if path else None)
    except (OSError, ssl.SSLError) as e:
        raise entry.error("ca_file", f"cannot load {path}: {e}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return url, context


def _fields(entry: _Entry) -> tuple[tuple[FieldPattern, ...], tuple[JsonPointerPattern, ...]]:
    names: list[FieldPattern] = []
    pointers: list[JsonPointerPattern] = []
    for text in entry.texts("reveal", optional=True):
        try:
            if is_pointer_pattern(text):
                pointers.append(parse_pointer_pattern(text))
            else:
                names.append(parse_pattern(text))
        except ValueError as e:
            raise entry.error("reveal", str(e)) from None
    return tuple(names), tuple(pointers)


def _keys(entry: _Entry) -> frozenset[tuple[str, str]]:
    keys = set()
    for text in entry.texts("keys", optional=True):
        provider, slash, name = text.partition("/")
        if not slash or not provider or not name:
            raise entry.error("keys", f"{text!r} must be provider-id/key-name")
        keys.add((provider, name))
    return frozenset(keys)


def _route(entry: _Entry, callers: set[str], base_dir: Path) -> Route:
    entry.no_others({"name", "prefix", "upstream", "methods", "reveal", "keys", "callers", "ca_file"})
    prefix = entry.text("prefix")
    if not prefix.startswith("/") or not prefix.endswith("/") or "%" in prefix or "/../" in prefix:
        raise entry.error("prefix", "must start and end with '/' and hold no '%' or '..'")
    methods = {m.upper() for m in entry.texts("methods")}
    if not methods <= METHODS:
        raise entry.error("methods", f"unknown method(s) {', '.join(sorted(methods - METHODS))}")
    allowed = set(entry.texts("callers"))
    if not allowed <= callers:
        raise entry.error("callers", f"no [[caller]] named {', '.join(sorted(allowed - callers))}")
    names, pointers = _fields(entry)
    keys = _keys(entry)
    if (names or pointers) and not keys:
        raise entry.error("keys", "a route that reveals fields must name the keys it may decrypt")
    upstream, context = _upstream(entry, base_dir)
    return Route(
        entry.text("name"), prefix, upstream, frozenset(methods), names, pointers, keys, frozenset(allowed),
        context,
    )  # fmt: skip


def load_routes(path: str | Path) -> RevealConfig:
    """The routes file at `path`, validated whole; RoutesError names what is wrong and where."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RoutesError(f"cannot read routes file {str(path)!r}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise RoutesError(f"{path}: invalid TOML: {e}") from None
    unknown = sorted(set(document) - {"caller", "route"})
    if unknown:
        raise RoutesError(f"{path}: unknown table(s) {', '.join(unknown)}")
    callers = [_caller(_Entry(t, f"{path}: caller[{i}]")) for i, t in enumerate(document.get("caller", []))]
    names = [c.name for c in callers]
    if len(set(names)) != len(names):
        raise RoutesError(f"{path}: caller names must be unique")
    if len({c.token_sha256 for c in callers}) != len(callers):
        raise RoutesError(f"{path}: two callers share one token")
    tables = document.get("route", [])
    if not tables:
        raise RoutesError(f"{path}: no [[route]] entries")
    routes = [_route(_Entry(t, f"{path}: route[{i}]"), set(names), path.parent) for i, t in enumerate(tables)]
    for i, route in enumerate(routes):
        for other in routes[:i]:
            if route.name == other.name:
                raise RoutesError(f"{path}: route[{i}]: name: {route.name!r} is already used")
            if route.prefix.startswith(other.prefix) or other.prefix.startswith(route.prefix):
                raise RoutesError(f"{path}: route[{i}]: prefix: overlaps route {other.name!r}")
    return RevealConfig(tuple(callers), tuple(routes), path)
