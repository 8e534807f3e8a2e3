"""A profile's selection as the codecs read it, derived once from its patterns: its field names indexed as
every origin family reads them (`names.NameIndex`) and its JSON pointers case-folded.

`edge_profile` derives the same facts on the spot for a bare `Profile` (tests, fuzzing, tools that hold
no loaded config), so both paths read bodies identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from profiles import EncryptionEntity, Profile

from .json_keys import pattern_readings
from .json_pointer import JsonPointerPattern
from .names import NameIndex, compile_names

EncryptValue = Callable[[bytes, EncryptionEntity], bytes]
"""Encrypts one decoded value for an entity and returns the base64 text (ASCII bytes)."""

Pointers = tuple[tuple[JsonPointerPattern, EncryptionEntity], ...]


def _folded(pattern: JsonPointerPattern) -> JsonPointerPattern:
    """The pattern with its keys case-folded: Go's encoding/json (and others, by option) ignore case."""
    return JsonPointerPattern(pattern.text, tuple(s if s is None else s.casefold() for s in pattern.segments))


@dataclass(frozen=True, slots=True)
class EdgeProfile:
    """A profile with the edge's derived facts: its name index and its case-folded JSON pointers."""

    profile: Profile
    names: NameIndex
    pointers: Pointers

    @classmethod
    def of(cls, profile: Profile) -> EdgeProfile:
        folded = [
            (_folded(p), e) for e in profile.entities for p in e.patterns if isinstance(p, JsonPointerPattern)
        ]
        # `/card.number` is also read as `/card/number` by accessors that split paths (json_keys.py)
        pointers = tuple(folded) + tuple((r, e) for p, e in folded for r in pattern_readings(p))
        return cls(profile, compile_names(profile), pointers)


def edge_profile(profile: Profile | EdgeProfile) -> EdgeProfile:
    """`profile`'s facts: as compiled at load when given them, derived now for a bare Profile."""
    return profile if isinstance(profile, EdgeProfile) else EdgeProfile.of(profile)
