"""Which protected field a form or multipart field name could be, as any origin framework reads names.

CloudFront compares a field name exactly, but origin frameworks do not all read the name the client sent:
ASP.NET compares form keys case-insensitively, PHP turns `a.b` and `a b` into `a_b` and reads `phone[]` as
`phone`, Rails and `qs` read `phone[x]` under `phone`, a C parser stops at a NUL byte, an application may
percent-decode a name twice or NFKC-normalise it, and a MIME library may decode an RFC 2047 encoded word.
So a field is protected when its name as sent, or any of those readings of it, is selected by a pattern
(compared case-insensitively for the readings); its value is then encrypted with that pattern's entity.
Encrypting one field too many is safe; forwarding a plaintext the origin reads as protected is not.
"""

from __future__ import annotations

import re
import unicodedata
from email.header import decode_header, make_header
from functools import lru_cache
from urllib.parse import unquote

from profiles import EncryptionEntity, Profile
from profiles.patterns import FieldPattern

_TRAILING_BRACKETS = re.compile(r"(\[[^\[\]]*\])+$")
_ROUNDS = 3  # readings of readings: enough for e.g. a twice-encoded, bracketed, upper-case name
_CACHED_NAME_LENGTH = 128  # the folded readings of names up to this long are remembered (bounded memory)


def _php(name: str) -> str:
    """PHP's `$_POST` key: leading spaces dropped, ` ` `.` (and an unclosed `[`) become `_` before `[`."""
    name = name.lstrip(" ")
    head, bracket, tail = name.partition("[")
    head = head.replace(" ", "_").replace(".", "_")
    if not bracket:
        return head
    return head if "]" in tail else head + "_" + tail


def _encoded_word(name: str) -> str:
    try:
        return str(make_header(decode_header(name)))
    except (ValueError, LookupError, UnicodeError):
        return name


def _one_step(name: str) -> set[str]:
    out = {
        name.strip(),
        name.split("\x00", 1)[0],
        unicodedata.normalize("NFKC", name),
        _php(name),
        _TRAILING_BRACKETS.sub("", name),
        name.split("[", 1)[0],
    }
    if "%" in name:
        out.add(unquote(name, errors="replace"))
    if "=?" in name:
        out.add(_encoded_word(name))
    return {reading for reading in out if reading}


def readings(name: str) -> set[str]:
    """`name` and every name an origin framework could read it as (case aside)."""
    found = {name}
    new = {name}
    for _ in range(_ROUNDS):
        new = {r for n in new for r in _one_step(n)} - found
        if not new:
            break
        found |= new
    return found


@lru_cache(maxsize=1024)
def _cached_folded(name: str) -> frozenset[str]:
    return frozenset(reading.casefold() for reading in readings(name))


def _folded_readings(name: str) -> frozenset[str]:
    """Every reading of `name`, case-folded; a form's field names repeat, so short ones are cached."""
    if len(name) <= _CACHED_NAME_LENGTH:
        return _cached_folded(name)
    return frozenset(reading.casefold() for reading in readings(name))


def _folded_match(pattern: FieldPattern, folded: str) -> bool:
    prefix = pattern.prefix.casefold()
    return folded.startswith(prefix) if pattern.wildcard else folded == prefix


def entity_for(profile: Profile, name: str) -> EncryptionEntity | None:
    """The entity that protects a field sent as `name`: exact CloudFront match first, then any reading."""
    exact = profile.entity_for(name)
    if exact is not None:
        return exact
    folded = _folded_readings(name)
    for entity in profile.entities:
        for pattern in entity.patterns:
            if isinstance(pattern, FieldPattern) and any(_folded_match(pattern, f) for f in folded):
                return entity
    return None
