"""`fle rewrap`'s work: walk the store and re-wrap every stored value from an old key to a new one.

Two passes. The plan scans the table and notes the items holding a value whose header names the old key
(no key is used for that). The work then reads those items again in batches, re-wraps each such value
(decryptor/rewrap.py: only the data key is unwrapped, never the content) and writes the item's new values
with one conditional write that succeeds only if every old value is still there. So:

- a rerun after an interruption plans only what is left (re-wrapped values name the new key);
- a value changed meanwhile (another rewrap, an application's update) makes the write fail: the item is
  reported as a conflict and left as it is, never overwritten;
- a value that cannot be re-wrapped (tampered, unsupported suite, the old key refuses it) fails alone: the
  item's other values are still re-wrapped and the failure is reported.

Every re-wrapped (or failed) value gets an audit line `fle.rewrap` with the item, field and keys, never a
value. Before anything is written, the new key is self-tested: a random data key wrapped with its public
key must come back through the keystore's backend for it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from esdk_format import is_message
from keystore import Keystore, KeystoreError
from store import Store, Submission

from .audit import AuditLog, Caller
from .rewrap import KeyRef, NewKey, RewrapError, names_key, parse
from .rewrap_pool import RewrapPool
from .rewrap_work import ValueOutcome

Progress = Callable[[int, int], None]  # (items done, items to do)
Scanned = Callable[[int], None]  # items read so far by the plan's table scan (the total is not known)
_AHEAD = 8  # chunks read and re-wrapped ahead of the one being written (a few hundred values)


@dataclass(frozen=True, slots=True)
class _Work:
    """One chunk of planned ids, and the items found for them with the names of their old-key values."""

    ids: list[str]
    items: list[tuple[Submission, list[str]]]


_Chunk = tuple[_Work, list[ValueOutcome]]


@dataclass
class RewrapReport:
    """What a run did, counted in items (fields where it says so)."""

    scanned: int = 0  # items read by the plan
    planned: int = 0  # items holding at least one value for the old key
    rewrapped_items: int = 0
    rewrapped_fields: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (item id, field): not a valid header
    conflicts: list[str] = field(default_factory=list)  # item ids changed by someone else meanwhile
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # item id -> field -> reason
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.failures


def new_key_for(keystore: Keystore, ref: KeyRef) -> NewKey:
    """The new key from the keystore, self-tested: wrap a random data key, unwrap it, compare."""
    entry = keystore.entry(ref.provider_id, ref.key_name)
    backend = keystore.backend(ref.provider_id, ref.key_name)
    new = NewKey(ref, backend.public_key(), entry.wrapping.padding())
    probe = os.urandom(32)
    try:
        back = backend.unwrap(new.public_key.encrypt(probe, new.padding), entry.wrapping)
    except KeystoreError as e:
        raise RewrapError(f"self-test of the new key {ref} failed: {e}") from e
    if back != probe:
        raise RewrapError(f"self-test of the new key {ref} failed: the key does not unwrap its own data key")
    return new


def _decoded(value: str) -> bytes | None:
    if not is_message(value):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def fields_for(item: Submission, old: KeyRef) -> list[str]:
    """The names of the item's values whose header names `old`."""
    return [name for name, value in item.fields.items() if (raw := _decoded(value)) and names_key(raw, old)]


def unreadable_fields(item: Submission) -> list[str]:
    """The names of the item's values that look like ciphertext but whose header cannot be parsed."""
    names = []
    for name, value in item.fields.items():
        raw = _decoded(value)
        if raw is None:
            continue
        try:
            parse(raw)
        except RewrapError as e:
            if "cannot be re-wrapped" not in str(e):  # another suite is readable, just not ours to re-wrap
                names.append(name)
    return names


class Rewrapper:
    """Re-wraps a store's values from `old` to `new`: on `workers` threads, or for a large run on
    `processes` worker processes that open the keystore file at `keystore_path` themselves
    (rewrap_pool.py)."""

    def __init__(
        self,
        keystore: Keystore,
        store: Store,
        old: KeyRef,
        new: NewKey,
        audit: AuditLog,
        caller: Caller,
        *,
        workers: int = 4,
        batch: int = 50,
        dry_run: bool = False,
        processes: int = 1,
        keystore_path: str | None = None,
    ) -> None:
        self.keystore = keystore
        self.store = store
        self.old = old
        self.new = new
        self.audit = audit
        self.caller = caller
        self.batch = batch
        self.dry_run = dry_run
        self._pool = RewrapPool(
            keystore, old, new, workers=workers, processes=processes, keystore_path=keystore_path
        )

    @property
    def pids(self) -> frozenset[int]:
        """For tests and diagnostics: the processes that re-wrapped values so far."""
        return frozenset(self._pool.pids)

    @property
    def start_seconds(self) -> float | None:
        """For diagnostics: how long the worker processes took to start; None when none started."""
        return self._pool.start_seconds

    async def plan(self, report: RewrapReport, scanned: Scanned | None = None) -> list[str]:
        """The ids of the items holding a value for the old key; `scanned` hears of every page read."""
        ids: list[str] = []
        values = 0
        async for page in self.store.scan(page_size=self.batch * 4):
            report.scanned += len(page)
            if scanned:
                scanned(report.scanned)
            report.unreadable += [(item.id, name) for item in page for name in unreadable_fields(item)]
            for item in page:
                if names := fields_for(item, self.old):
                    ids.append(item.id)
                    values += len(names)
            self._pool.prepare(values)  # a large run: worker processes start while the scan goes on
        report.planned = len(ids)
        return ids

    async def run(self, progress: Progress | None = None, scanned: Scanned | None = None) -> RewrapReport:
        report = RewrapReport()
        started = time.monotonic()
        ahead: deque[asyncio.Task[_Chunk]] = deque()
        try:
            ids = await self.plan(report, scanned)
            done = 0
            if progress:
                progress(0, len(ids))
            pending = iter([ids[start : start + self.batch] for start in range(0, len(ids), self.batch)])
            # the next chunks are read and re-wrapped while this one is written: the cores stay busy
            ahead.extend(asyncio.create_task(self._read(chunk)) for chunk in islice(pending, _AHEAD + 1))
            while ahead:
                work, outcomes = await ahead.popleft()
                if (following := next(pending, None)) is not None:
                    ahead.append(asyncio.create_task(self._read(following)))
                await self._write(work, outcomes, report)
                done += len(work.ids)
                if progress:
                    progress(done, len(ids))
        finally:
            for task in ahead:
                task.cancel()
            await asyncio.gather(*ahead, return_exceptions=True)
            report.seconds = time.monotonic() - started
        return report

    async def _read(self, chunk: list[str]) -> _Chunk:
        found = await self.store.get_many(chunk)
        work = _Work(chunk, [(found[i], fields_for(found[i], self.old)) for i in chunk if i in found])
        values = [item.fields[name] for item, names in work.items for name in names]
        return work, await self._pool.outcomes(values)

    async def _write(self, work: _Work, outcomes: list[ValueOutcome], report: RewrapReport) -> None:
        for outcome in outcomes:  # the old key's backend is down: stop, rather than fail every item after it
            if outcome.unavailable is not None:
                raise RewrapError(f"stopped: {outcome.unavailable}; items done so far are kept, run again")
        each = iter(outcomes)
        writes: list[tuple[Submission, dict[str, str]]] = []  # items with at least one re-wrapped value
        for item, names in work.items:
            new: dict[str, str] = {}
            for name in names:
                result = next(each)
                if result.value is not None:
                    new[name] = result.value
                    continue
                reason = result.reason or "unexpected outcome"
                report.failures.setdefault(item.id, {})[name] = reason
                self._audit(item.id, name, "failed", reason)
            if new:
                writes.append((item, new))
        if self.dry_run:
            written = [True] * len(writes)
        else:  # one conditional write per item (the SQLite store commits the chunk's writes together)
            changes = [(item.id, {name: item.fields[name] for name in new}, new) for item, new in writes]
            written = await self.store.replace_many(changes)
        verb = "would-rewrap" if self.dry_run else "rewrapped"
        for (item, new), ok in zip(writes, written, strict=True):
            if not ok:
                report.conflicts.append(item.id)
                for name in new:
                    self._audit(item.id, name, "conflict", "the item changed meanwhile; not overwritten")
                continue
            report.rewrapped_items += 1
            report.rewrapped_fields += len(new)
            for name in new:
                self._audit(item.id, name, verb)

    def _audit(self, item_id: str, name: str, outcome: str, reason: str | None = None) -> None:
        line: dict[str, object] = {
            "event": "fle.rewrap",
            "outcome": outcome,
            "caller": self.caller.to_json(),
            "item_id": item_id,
            "field": name,
            "from": {"provider_id": self.old.provider_id, "key_name": self.old.key_name},
            "to": {"provider_id": self.new.ref.provider_id, "key_name": self.new.ref.key_name},
        }
        if reason:
            line["reason"] = reason
        self.audit.event(line)

    def close(self) -> None:
        self._pool.close()
