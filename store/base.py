"""The interface every store backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

from .beacons import FIND_LIMIT, Found
from .model import Submission

Replacement = tuple[str, Mapping[str, str], Mapping[str, str]]  # (item id, expected, new): replace_fields'


class Store(Protocol):
    """A table of submissions keyed by id. All methods are coroutines and never block the event loop."""

    async def put(self, item: Submission) -> None:
        """Store `item` whole or not at all. Putting the identical item again is a no-op (a retried put stores
        it once); DuplicateItem if a different item has its id; InvalidItem if it breaks the rules in
        store/rules.py; StoreUnavailable if the table cannot take it."""

    async def get(self, item_id: str) -> Submission | None:
        """The item with this id, or None."""

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, Submission]:
        """The items found among `item_ids`, by id."""

    async def recent(self, limit: int) -> list[Submission]:
        """Up to `limit` items, newest first."""

    def scan(self, page_size: int = 100) -> AsyncIterator[list[Submission]]:
        """Every item, pages of up to `page_size`, in no particular order (reads the whole table)."""

    async def replace_fields(self, item_id: str, expected: Mapping[str, str], new: Mapping[str, str]) -> bool:
        """Set the fields in `new` only if each field in `expected` holds exactly that value now (one
        conditional write: all or nothing); False when the item is gone or a value differs. Every name in
        `new` must be in `expected`; InvalidItem if the changed item breaks the rules."""

    async def replace_many(self, changes: Sequence[Replacement]) -> list[bool]:
        """`replace_fields` for each (item id, expected, new), in order, each with its own condition; a
        backend may commit them together (SQLite: one synced transaction instead of one per item), so an
        InvalidItem may leave none of them written."""

    async def find(
        self, field: str, beacons: Sequence[str], *, limit: int = FIND_LIMIT, after: str | None = None
    ) -> Found:
        """The ids of the items whose `<field>__bidx` sidecar holds any of `beacons` (the union: during an
        index-key rotation an item carries the old key's beacon or the new one's), ascending, at most
        `limit` (1 to MAX_FIND_LIMIT) of them, only ids greater than `after` when given; `capped` when more
        matched. Read through an index, never a scan: SQLite's beacons table, DynamoDB's `<field>__bidx`
        index (StoreError naming the missing index when the table has none). ValueError for a bad field
        name, beacon or limit. Candidates only: beacons collide on purpose, the decryptor's match decides."""

    async def delete(self, item_id: str) -> bool:
        """Remove the item with this id; True if it was there."""

    async def check(self) -> None:
        """Raise StoreError now if the store cannot work (no region or credentials, a missing table, an
        unreadable file), so a server can refuse to start instead of failing every request."""

    async def close(self) -> None:
        """Release connections."""
