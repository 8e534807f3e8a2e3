"""`fle reindex`'s work: rewrite every stored beacon under its index's current key (docs/search-rotation.md).

While an index key is rotated, the profile's index names the new key as `Key` and the old one as
`PreviousKey`: the edge writes `<field>__bidx` under the new key (and `<field>__bidx_prev` under the old
one), and a lookup asks for both beacons. Items stored before still carry beacons under the old key. This
walks the store once, page by page, and for every indexed field stored as an ESDK message:

1. decrypts it (the keystore and policy of `fle decrypt`), normalizes it by the index's normalizer and
   computes its standard beacon under the index's current `Key` (blindindex.keys.IndexKeys);
2. leaves the item alone when its `<field>__bidx` already holds that beacon (a rerun is a no-op, and a run
   stopped half-way resumes by running it again);
3. otherwise writes the new beacon with one conditional write per item, which succeeds only while the
   field's ciphertext and the old beacon are both still the ones read: an item changed meanwhile is
   counted as a conflict and never overwritten.

An item with the field but no `<field>__bidx` at all (stored before the index existed) is counted, not
written: the store's conditional write replaces existing values only. Plaintexts and normalized values
exist only inside `_beacon`, on a worker thread, and leave it as a beacon or a reason; the audit gets a
`fle.reindex` line when the run starts and one with its counts and failures when it ends, never a value
or a beacon. Values are decrypted on `workers` threads (the RSA operations release the GIL); worker
processes, as `fle rewrap` has, are not used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from blindindex import BlindIndexError, NormalizeError
from blindindex.keys import IndexKeys
from esdk_format import is_message
from profiles import SIDECAR_SUFFIX
from store import Store, Submission
from store.base import Replacement

from .audit import AuditLog, Caller
from .core import Decryptor
from .errors import DecryptError, DecryptorError
from .indexes import StoredIndex
from .reasons import Reason

Progress = Callable[["ReindexReport"], None]
MAX_AUDITED_FAILURES = 1000  # failures listed in the run's audit line; the count is always whole


class ReindexError(DecryptorError):
    """The run cannot go on (an index key cannot be used); what was written so far is kept."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    beacon: str | None = None
    reason: str | None = None  # a reason code (reasons.py) when beacon is None
    detail: str = ""  # words for the operator and the audit line, never a value


@dataclass
class ReindexReport:
    """What a run did, in items read and in indexed values (an item may hold several)."""

    items: int = 0  # items read
    seen: int = 0  # indexed values stored as ESDK messages
    rewritten: int = 0  # beacons written (or that would be, with dry_run)
    current: int = 0  # beacons already right
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (item id, field) changed meanwhile
    # (item id, field, reason code, detail)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (item id, field): no <field>__bidx
    not_encrypted: int = 0  # indexed fields stored as something else than a message: left alone
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.failures


class Reindexer:
    """Rewrites the stored beacons of `indexes` under each index's current key."""

    def __init__(
        self,
        decryptor: Decryptor,
        index_keys: IndexKeys,
        indexes: Sequence[StoredIndex],
        audit: AuditLog,
        caller: Caller,
        *,
        workers: int = 4,
        batch: int = 100,
        dry_run: bool = False,
    ) -> None:
        self.decryptor = decryptor
        self.index_keys = index_keys
        self.indexes = tuple(indexes)
        self.audit = audit
        self.caller = caller
        self.batch = batch
        self.dry_run = dry_run
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="fle-reindex")

    def prepare(self) -> None:
        """Every index's current key, derived or found in its token now: ReindexError before any work."""
        for stored in self.indexes:
            try:
                self.index_keys.prepare(stored.index.key, stored.index.name)
            except BlindIndexError as e:
                raise ReindexError(f"index {stored.index.name} (field {stored.field}): {e}") from e

    def _beacon(self, stored: StoredIndex, value: str) -> _Outcome:
        """The value's beacon under the index's current key, or why not (blocking; a worker thread)."""
        try:
            plaintext = self.decryptor.decrypt(value).plaintext
        except DecryptError as e:
            return _Outcome(reason=str(e.reason), detail=e.audit_detail)
        try:
            normalized = stored.normalizer.apply(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, NormalizeError):
            detail = f"normalizer {stored.index.normalize} refuses the value (or it is not UTF-8)"
            return _Outcome(reason=str(Reason.NOT_NORMALIZED), detail=detail)
        try:
            index = stored.index
            beacon = self.index_keys.beacon(index.key, index.name, index.bits, normalized)
        except BlindIndexError as e:  # the key is gone (a token unplugged): the run stops, below
            return _Outcome(reason="index_key_unavailable", detail=str(e))
        return _Outcome(beacon=beacon)

    async def run(self, store: Store, progress: Progress | None = None) -> ReindexReport:
        """Walk `store` once (module docstring); ReindexError when an index key stops working."""
        report = ReindexReport()
        started = time.monotonic()
        self._audit_line("started", report)
        outcome = "stopped"
        try:
            async for page in store.scan(page_size=self.batch):
                await self._page(store, page, report)
                if progress:
                    progress(report)
            outcome = "finished"
        finally:
            report.seconds = time.monotonic() - started
            self._audit_line(outcome, report)
        return report

    async def _page(self, store: Store, page: list[Submission], report: ReindexReport) -> None:
        report.items += len(page)
        work: list[tuple[Submission, StoredIndex]] = []
        for item in page:
            for stored in self.indexes:
                value = item.fields.get(stored.field)
                if value is None:
                    continue
                if not is_message(value):
                    report.not_encrypted += 1
                    continue
                work.append((item, stored))
        report.seen += len(work)
        loop = asyncio.get_running_loop()
        outcomes = await asyncio.gather(
            *(loop.run_in_executor(self._threads, self._beacon, s, i.fields[s.field]) for i, s in work)
        )
        changes: dict[str, tuple[dict[str, str], dict[str, str]]] = {}  # item id -> (expected, new)
        for (item, stored), result in zip(work, outcomes, strict=True):
            if result.reason == "index_key_unavailable":
                raise ReindexError(f"index {stored.index.name}: {result.detail}; run again once it is back")
            if result.beacon is None:
                assert result.reason is not None
                report.failures.append((item.id, stored.field, result.reason, result.detail))
                continue
            old = item.fields.get(stored.sidecar)
            if old == result.beacon:
                report.current += 1
            elif old is None:
                report.missing.append((item.id, stored.field))
            else:
                expected, new = changes.setdefault(item.id, ({}, {}))
                expected.update({stored.field: item.fields[stored.field], stored.sidecar: old})
                new[stored.sidecar] = result.beacon
        replacements: list[Replacement] = [(i, expected, new) for i, (expected, new) in changes.items()]
        written = [True] * len(replacements) if self.dry_run else await store.replace_many(replacements)
        for (item_id, _, sidecars), ok in zip(replacements, written, strict=True):
            fields = [name.removesuffix(SIDECAR_SUFFIX) for name in sidecars]
            if ok:
                report.rewritten += len(fields)
            else:
                report.conflicts += [(item_id, name) for name in fields]

    def _audit_line(self, outcome: str, report: ReindexReport) -> None:
        line: dict[str, object] = {
            "event": "fle.reindex",
            "outcome": outcome,
            "caller": self.caller.to_json(),
            "dry_run": self.dry_run,
            "indexes": [
                {"field": s.field, "name": s.index.name, "key": s.index.key, "normalize": s.index.normalize}
                for s in self.indexes
            ],
        }
        if outcome != "started":
            failures = [
                {"id": item_id, "field": name, "reason": reason, "detail": detail}
                for item_id, name, reason, detail in report.failures[:MAX_AUDITED_FAILURES]
            ]
            line.update(
                items=report.items, seen=report.seen, rewritten=report.rewritten, current=report.current,
                missing=len(report.missing), not_encrypted=report.not_encrypted,
                conflicts=[{"id": i, "field": n} for i, n in report.conflicts[:MAX_AUDITED_FAILURES]],
                failed=len(report.failures), failures=failures, seconds=round(report.seconds, 3),
            )  # fmt: skip
        self.audit.event(line)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
