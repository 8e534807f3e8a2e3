"""The harness's checker: which paths an origin read are protected, and which of them hold a secret.

A form/multipart field name pattern (`phone`, `card*`, `user[ssn]`) protects every path that starts
with its segments, compared case-insensitively (`user[ssn]` is the segments user, ssn; a `*` pattern
matches a prefix of its last segment), and a flat reader's name equal to the pattern's text (`user[ssn]`
as one key) or, for `card*`, starting with its prefix. A flat reader's key is what an application asks
for: Werkzeug's `phone[]` is not `phone` (qs's reading of the same bytes is, and is checked there).
A JSON pointer pattern (`/card/number`, `*` segments as wildcards) protects every path that starts
with it, case-insensitively too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from tests.harness_capture import Parse, iter_parses


def name_segments(name: str) -> list[str]:
    """`a[b][c]` -> [a, b, c] (qs/PHP/Rack shape), linear; anything after a broken group stays in it."""
    head, bracket, rest = name.partition("[")
    if not bracket:
        return [name]
    segments = [head]
    while rest:
        inner, close, after = rest.partition("]")
        if not close:
            segments[-1] += "[" + rest
            break
        segments.append(inner)
        if not after.startswith("["):
            if after:  # text after a group: readers drop it or keep it; kept as one more segment
                segments.append(after)
            break
        rest = after[1:]
    return segments


@dataclass(frozen=True)
class Protection:
    """The protected names of one body format, as the config under test maps them."""

    form_patterns: tuple[str, ...] = ()
    json_pointers: tuple[str, ...] = ()

    def protects(self, path: tuple[str, ...], json_body: bool) -> bool:
        if json_body:
            return any(_pointer_prefix(p, path) for p in self.json_pointers)
        keys = [s.lower() for s in path]
        return any(_name_prefix(p, keys) or _flat_match(p, keys) for p in self.form_patterns)


def _name_prefix(pattern: str, segments: list[str]) -> bool:
    wanted = [s.lower() for s in name_segments(pattern)]
    if len(segments) < len(wanted):
        return False
    for i, want in enumerate(wanted):
        last = i == len(wanted) - 1
        if last and want.endswith("*"):
            if not segments[i].startswith(want[:-1]):
                return False
        elif segments[i] != want:
            return False
    return True


def _flat_match(pattern: str, keys: list[str]) -> bool:
    if len(keys) != 1:
        return False
    pattern = pattern.lower()
    return keys[0].startswith(pattern[:-1]) if pattern.endswith("*") else keys[0] == pattern


def _pointer_prefix(pointer: str, path: tuple[str, ...]) -> bool:
    wanted = [s.replace("~1", "/").replace("~0", "~").lower() for s in pointer.split("/")[1:]]
    if len(path) < len(wanted):
        return False
    return all(w == "*" or w == p.lower() for w, p in zip(wanted, path, strict=False))


@dataclass(frozen=True)
class Leak:
    origin: str
    path: tuple[str, ...]
    secret: str

    def __str__(self) -> str:
        return f"{self.origin} read {self.secret!r} under {list(self.path)!r}"


def leaks(parses: list[Parse], secrets: Iterable[str], protection: Protection, json_body: bool) -> list[Leak]:
    """Every protected path, in any origin's reading, whose value (or file content) holds a secret."""
    found = []
    secrets = tuple(secrets)
    for parse, path, value in iter_parses(parses):
        if not protection.protects(path, json_body):
            continue
        for secret in secrets:
            if secret in value:
                found.append(Leak(parse.origin.name, path, secret))
    return found


def is_ciphertext(value: str) -> bool:
    """An ESDK message in base64 (the proxy's encrypted field): version byte 1 or 2, a real length."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) > 60 and raw[0] in (1, 2)
