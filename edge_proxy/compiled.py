"""What the edge derives from a loaded config, computed once at load so a request only looks it up.

A profile's field names indexed as every origin family reads them (`names.NameIndex`), its JSON pointers
case-folded, and the encoder of its algorithm suite bound to the config's public keys: all are facts of
the configuration alone. `CompiledConfig` computes them when the config is loaded (at start and on every
reload, off the event loop); a request then finds its profile's facts with one dictionary lookup.

The codecs also accept a bare `Profile` (tests, fuzzing, tools that hold no loaded config): `edge_profile`
derives the same facts on the spot, so both paths read bodies identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from profiles import EncryptionEntity, FleConfig, Profile
from profiles.json_pointer import JsonPointerPattern

from .encryptor import FieldEncryptor
from .json_keys import pattern_readings
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


def _profiles_of(config: FleConfig) -> list[Profile]:
    profiles = [m.profile for m in config.content_type_profiles if m.profile is not None]
    return profiles + [m.profile for m in config.query_arg_profiles]


class CompiledConfig:
    """One loaded FLE config with, per profile, its edge facts and its suite's encoder bound to the keys."""

    def __init__(self, config: FleConfig, encryptor: FieldEncryptor | None = None) -> None:
        self.config = config
        self.encryptor = encryptor or FieldEncryptor(config)
        self._profiles: dict[int, tuple[Profile, EdgeProfile, EncryptValue]] = {}
        for profile in _profiles_of(config):
            if id(profile) not in self._profiles:
                self._profiles[id(profile)] = self._compile(profile)

    def _compile(self, profile: Profile) -> tuple[Profile, EdgeProfile, EncryptValue]:
        return profile, EdgeProfile.of(profile), self.encryptor.for_suite(profile.algorithm_suite)

    def bound(self, profile: Profile) -> tuple[EdgeProfile, EncryptValue]:
        """The facts and the encrypt function of `profile`, one of this config's (looked up by identity:
        a profile is a deep frozen record, hashing it per request would cost more than the lookup saves)."""
        hit = self._profiles.get(id(profile))
        if hit is None or hit[0] is not profile:  # not this config's profile object: derive it now
            hit = self._compile(profile)
        return hit[1], hit[2]
