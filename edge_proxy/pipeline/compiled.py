"""What the edge derives from a loaded config, computed once at load so a request only looks it up.

Per profile: its selection (`fields.selection.Selection`: its field names indexed as every origin family
reads them, its JSON pointers case-folded, each tagged with its EncryptionEntity), and the encoder of its
algorithm suite bound to the config's public keys, the transform the codecs call per protected value.
`CompiledConfig` computes them when the config is loaded (at start and on every reload, off the event
loop); a request then finds its profile's selection and transform with one dictionary lookup.

A bare `Profile` (tests, fuzzing, tools that hold no loaded config) compiles the same selection on first
use (`Profile.selection`), so both paths read bodies identically.
"""

from __future__ import annotations

from edge_proxy.encrypting.encryptor import FieldEncryptor
from fields.selection import Selection, Transform
from profiles import EncryptionEntity, FleConfig, Profile

Compiled = tuple[Profile, Selection[EncryptionEntity], Transform[EncryptionEntity]]


def _profiles_of(config: FleConfig) -> list[Profile]:
    profiles = [m.profile for m in config.content_type_profiles if m.profile is not None]
    return profiles + [m.profile for m in config.query_arg_profiles]


class CompiledConfig:
    """One loaded FLE config with, per profile, its selection and its suite's encoder bound to the keys."""

    def __init__(self, config: FleConfig, encryptor: FieldEncryptor | None = None) -> None:
        self.config = config
        self.encryptor = encryptor or FieldEncryptor(config)
        self._profiles: dict[int, Compiled] = {}
        for profile in _profiles_of(config):
            if id(profile) not in self._profiles:
                self._profiles[id(profile)] = self._compile(profile)

    def _compile(self, profile: Profile) -> Compiled:
        return profile, profile.selection, self.encryptor.for_suite(profile.algorithm_suite)

    def bound(self, profile: Profile) -> tuple[Selection[EncryptionEntity], Transform[EncryptionEntity]]:
        """The selection and the encrypt function of `profile`, one of this config's (looked up by identity:
        a profile is a deep frozen record, hashing it per request would cost more than the lookup saves)."""
        hit = self._profiles.get(id(profile))
        if hit is None or hit[0] is not profile:  # not this config's profile object: derive it now
            hit = self._compile(profile)
        return hit[1], hit[2]
