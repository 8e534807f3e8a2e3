"""What the edge derives from a loaded config, computed once at load so a request only looks it up.

Per profile: its selection (`fields.selection.Selection`: its field names indexed as every origin family
reads them, its JSON pointers case-folded, each tagged with its EncryptionEntity), and the encoder of its
algorithm suite bound to the config's public keys, the transform the codecs call per protected value.
`CompiledConfig` computes them when the config is loaded (at start and on every reload, off the event
loop); a request then finds its profile's selection and transform with one dictionary lookup.

A bare `Profile` (tests, fuzzing, tools that hold no loaded config) compiles the same selection on first
use (`Profile.selection`), so both paths read bodies identically.

A profile with blind indexes ("Fle:Indexes") gets the selection and transform of `indexing.py` instead:
its sidecar names refused, its indexed fields' beacons written beside their ciphertext, with the index
keys the proxy was given (every key made ready here, at load: a request never meets a missing one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from blindindex.keys import IndexKeys
from edge_proxy.encrypting.encryptor import FieldEncryptor
from edge_proxy.encrypting.openings import DEFAULT_AHEAD, Counted
from fields.selection import Selection, Transform
from profiles import FleConfig, Profile

from .indexing import IndexedTransform, check_keys, indexed_selection

T = TypeVar("T")

# (profile, selection, transform, blocking): tags are the entity, or indexing.IndexTag with indexes
Compiled = tuple[Profile, Selection[Any], Transform[Any], bool]


class CompiledConfig:
    """One loaded FLE config with, per profile, its selection and its suite's encoder bound to the keys."""

    def __init__(
        self,
        config: FleConfig,
        index_keys: IndexKeys | None = None,
        ahead: int = DEFAULT_AHEAD,
        counted: Counted | None = None,
    ) -> None:
        """ConfigError when a profile indexes a field with a key `index_keys` cannot compute (or lacks).
        `ahead`: messages opened ahead per key and suite (encrypting/openings.py; 0: none), `counted` told
        of each batch made (the metrics)."""
        self.config = config
        self.encryptor = FieldEncryptor(config, ahead, counted)
        self.index_keys = index_keys
        self._profiles: dict[int, Compiled] = {}
        for profile in config.profiles:
            if id(profile) not in self._profiles:
                self._profiles[id(profile)] = self._compile(profile)

    def _compile(self, profile: Profile) -> Compiled:
        encrypt = self.encryptor.for_suite(profile.algorithm_suite)
        if not profile.indexes:
            return profile, profile.selection, encrypt, False
        blocking = check_keys(profile, self.index_keys)
        assert self.index_keys is not None  # check_keys refuses a profile with indexes and no keys
        return profile, indexed_selection(profile), IndexedTransform(encrypt, self.index_keys), blocking

    def blocking(self, profile: Profile) -> bool:
        """True when rewriting under `profile` calls a token (a pkcs11 index key): run it off the loop."""
        hit = self._profiles.get(id(profile))
        return hit is not None and hit[0] is profile and hit[3]

    async def off_the_loop(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` in a thread, for a rewrite under a `blocking` profile; then, back on the loop, the
        messages it took from the pools opened ahead are refilled (a thread cannot arm their timer)."""
        try:
            return await asyncio.to_thread(call, *args)
        finally:
            self.encryptor.arm()

    def bound(self, profile: Profile) -> tuple[Selection[Any], Transform[Any]]:
        """The selection and the encrypt function of `profile`, one of this config's (looked up by identity:
        a profile is a deep frozen record, hashing it per request would cost more than the lookup saves)."""
        hit = self._profiles.get(id(profile))
        if hit is None or hit[0] is not profile:  # not this config's profile object: derive it now
            hit = self._compile(profile)
        return hit[1], hit[2]
