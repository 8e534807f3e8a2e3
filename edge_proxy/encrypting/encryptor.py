"""Bind each encryption entity of a config to its message key, once, so the hot path only encrypts: it takes
a message opened ahead for the entity's key (`openings.Openings`) and seals the value into it."""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable
from functools import partial

from profiles import EncryptionEntity, FleConfig

from . import esdk, esdk_v2
from .openings import DEFAULT_AHEAD, Counted, Openings


class FieldEncryptor:
    """Encrypts decoded field values for the entities of one FLE config."""

    def __init__(self, config: FleConfig, ahead: int = DEFAULT_AHEAD, counted: Counted | None = None) -> None:
        """`ahead`: messages opened ahead per key and suite (0: each value opens its own when it comes);
        `counted`: told how many messages each pool opens, ahead or inline (openings.Openings)."""
        self._ahead = ahead
        self._counted = counted
        self._openings: dict[tuple[int, int], Openings] = {}  # (id of the FieldKey, suite): its pool
        self._keys: dict[EncryptionEntity, esdk.FieldKey] = {}
        # the same keys by the identity of the config's own entity objects: a request's tag is one of them,
        # and hashing an entity (its key, provider id and every pattern, field by field) cost more per field
        # than the lookup; the entity is kept beside its key, so an id is never mistaken for a new object's
        self._by_identity: dict[int, tuple[EncryptionEntity, esdk.FieldKey]] = {}
        for profile in config.profiles:
            for entity in profile.entities:
                key = self._keys.get(entity)
                if key is None:
                    key = self._keys[entity] = esdk.FieldKey(
                        public_key=entity.public_key.key,
                        provider_id=entity.provider_id.encode("utf-8"),
                        key_name=entity.public_key.name.encode("utf-8"),
                    )
                self._by_identity[id(entity)] = (entity, key)

    def for_suite(self, suite: int) -> Callable[[bytes, EncryptionEntity], bytes]:
        """The encrypt function of `suite` (0x0178 or 0x0478), picked once: a profile's suite is set at load.

        It returns the standard base64 of one ESDK message holding the value; ValueError for another suite.
        """
        open_message = _OPENERS.get(suite)
        if open_message is None:
            raise ValueError(f"unsupported algorithm suite {suite:#06x}")
        seal = esdk.seal
        pools = {entity: self._pool(key, suite, open_message) for entity, key in self._keys.items()}
        by_identity = {ident: (entity, pools[entity]) for ident, (entity, _) in self._by_identity.items()}

        def encrypt(value: bytes, entity: EncryptionEntity) -> bytes:
            hit = by_identity.get(id(entity))
            pool = hit[1] if hit is not None and hit[0] is entity else pools[entity]  # else: an equal entity
            return b2a_base64(seal(pool.take(), value), newline=False)  # base64.b64encode without its frame

        return encrypt

    def _pool(self, key: esdk.FieldKey, suite: int, open_message: Callable[..., esdk.Opening]) -> Openings:
        """The one pool of `key` and `suite`, shared by every profile of this config that writes them."""
        pool = self._openings.get((id(key), suite))
        if pool is None:
            pool = self._openings[(id(key), suite)] = Openings(
                partial(open_message, key), self._ahead, self._counted
            )
        return pool

    def arm(self) -> None:
        """On the event loop, after a rewrite that ran in a thread: refill what it took (Openings.arm)."""
        for pool in self._openings.values():
            pool.arm()


_OPENERS: dict[int, Callable[..., esdk.Opening]] = {
    esdk.SUITE_ID: esdk.open_message,
    esdk_v2.SUITE_ID: esdk_v2.open_message,
}
