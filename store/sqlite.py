"""The embedded default store: one SQLite file, accessed from a worker thread.

Beside the `submissions` table, the `beacons` table holds one row per (item, indexed field) for each
`<field>__bidx` sidecar an item carries, written in the same transaction as the item (put, replace,
delete), with an index on (field, beacon, item_id) that lookups search. A file made before the table
existed gets it, filled from the stored fields, the first time it is opened.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from .base import Replacement
from .beacons import BEACON, FIND_LIMIT, Found, sidecars
from .errors import DuplicateItem, StoreUnavailable
from .model import Submission
from .rules import check_item, check_lookup, check_replacement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    fields TEXT NOT NULL,
    encrypted_fields TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS submissions_received_at ON submissions (received_at);
"""
_BEACONS_SCHEMA = (
    """CREATE TABLE beacons (
        item_id TEXT NOT NULL,
        field TEXT NOT NULL,
        beacon TEXT NOT NULL,
        PRIMARY KEY (item_id, field)
    ) WITHOUT ROWID""",
    "CREATE INDEX beacons_lookup ON beacons (field, beacon, item_id)",
)
_COLUMNS = "id, received_at, fields, encrypted_fields"
_SET_BEACON = "INSERT OR REPLACE INTO beacons (item_id, field, beacon) VALUES (?, ?, ?)"
Row = tuple[str, str, str, str]
Statement = tuple[str, Sequence[object]]


def find_sql(beacons: int) -> str:
    """The lookup: ids with one of `beacons` beacons for a field, after an id, ascending, a limit."""
    marks = ",".join("?" * beacons)
    return (
        f"SELECT item_id FROM beacons WHERE field = ? AND beacon IN ({marks}) AND item_id > ? "
        "ORDER BY item_id LIMIT ?"
    )


def _beacon_rows(item_id: str, fields: Mapping[str, str]) -> list[Statement]:
    return [(_SET_BEACON, (item_id, field, beacon)) for field, beacon in sidecars(fields).items()]


def _where(path: Path) -> str:
    """Where a relative path points, for an error message (sqlite:///x is relative, sqlite:////x absolute)."""
    if path.is_absolute():
        return ""
    return f" (relative to {str(Path.cwd())!r}; an absolute path takes four slashes: sqlite:////var/...)"


class SqliteStore:
    """Submissions in a SQLite table; writes serialised by a lock, calls run off the event loop."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """Open (and with `create`, make) the store at `path`. Without `create` a missing file, or a file
        without the submissions table, is refused: a mistyped path must not become a new, empty store."""
        self.path = Path(path)
        self._lock = threading.Lock()
        if not create and not self.path.exists():
            raise StoreUnavailable(f"no SQLite store at {str(self.path)!r}{_where(self.path)}")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            else:  # mode=rw: never creates the file, even if it vanished since the check above
                uri = f"file:{quote(str(self.path.absolute()))}?mode=rw"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            if create:
                self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(submissions)")}
            if not columns:
                self._db.close()
                raise StoreUnavailable(f"{str(self.path)!r} is a SQLite file without a submissions table")
            if "encrypted_fields" not in columns:  # a store written before the metadata existed
                self._db.execute(
                    "ALTER TABLE submissions ADD COLUMN encrypted_fields TEXT NOT NULL DEFAULT '[]'"
                )
            self._add_beacons_table()
        except (sqlite3.Error, OSError) as e:
            raise StoreUnavailable(f"cannot open SQLite store {str(self.path)!r}: {e}") from e

    def _has_beacons_table(self) -> bool:
        found = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'beacons'")
        return found.fetchone() is not None

    def _add_beacons_table(self) -> None:
        """Create the beacons table if missing and fill it from the stored items' sidecars (a store written
        before lookups existed), in one transaction; a sidecar that is not a beacon is left out of it."""
        if self._has_beacons_table():
            return
        self._db.execute("BEGIN IMMEDIATE")  # another process may be adding it at the same moment
        try:
            if not self._has_beacons_table():
                for sql in _BEACONS_SCHEMA:
                    self._db.execute(sql)
                items = self._db.execute("SELECT id, fields FROM submissions")
                while rows := items.fetchmany(1000):
                    self._db.executemany(
                        _SET_BEACON,
                        [
                            (item_id, field, beacon)
                            for item_id, fields in rows
                            for field, beacon in sidecars(json.loads(fields)).items()
                            if field and BEACON.fullmatch(beacon)
                        ],
                    )
            self._db.execute("COMMIT")
        finally:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    async def check(self) -> None:
        await self._rows("SELECT 1 FROM submissions LIMIT 1")

    def _run(self, sql: str, params: Sequence[object] = ()) -> tuple[list[Row], int]:
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                return cursor.fetchall(), cursor.rowcount
            except sqlite3.IntegrityError as e:
                raise DuplicateItem(str(e)) from e
            except sqlite3.Error as e:
                raise StoreUnavailable(f"SQLite store {str(self.path)!r}: {e}") from e

    def _write(self, statements: Sequence[Statement]) -> int:
        """Run `statements` in one transaction, all or none; the first one's row count."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    counts = [self._db.execute(sql, params).rowcount for sql, params in statements]
                    self._db.execute("COMMIT")
                    return counts[0]
                finally:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
            except sqlite3.IntegrityError as e:
                raise DuplicateItem(str(e)) from e
            except sqlite3.Error as e:
                raise StoreUnavailable(f"SQLite store {str(self.path)!r}: {e}") from e

    async def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        rows, _count = await asyncio.to_thread(self._run, sql, params)
        return rows

    @staticmethod
    def _item(row: Row) -> Submission:
        return Submission(
            id=row[0],
            received_at=row[1],
            fields=json.loads(row[2]),
            encrypted_fields=tuple(json.loads(row[3])),
        )

    async def put(self, item: Submission) -> None:
        check_item(item)
        row = (item.id, item.received_at, json.dumps(item.fields), json.dumps(list(item.encrypted_fields)))
        insert = (f"INSERT INTO submissions ({_COLUMNS}) VALUES (?, ?, ?, ?)", row)
        try:
            await asyncio.to_thread(self._write, [insert, *_beacon_rows(item.id, item.fields)])
        except DuplicateItem:
            if await self.get(item.id) != item:  # the very same item again is a retry, not a clash
                raise

    async def get(self, item_id: str) -> Submission | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM submissions WHERE id = ?", (item_id,))
        return self._item(rows[0]) if rows else None

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, Submission]:
        if not item_ids:
            return {}
        marks = ",".join("?" * len(item_ids))
        rows = await self._rows(f"SELECT {_COLUMNS} FROM submissions WHERE id IN ({marks})", list(item_ids))
        return {row[0]: self._item(row) for row in rows}

    async def recent(self, limit: int) -> list[Submission]:
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM submissions ORDER BY received_at DESC, rowid DESC LIMIT ?", (limit,)
        )
        return [self._item(row) for row in rows]

    async def scan(self, page_size: int = 100) -> AsyncIterator[list[Submission]]:
        after = ""
        while True:
            rows = await self._rows(
                f"SELECT {_COLUMNS} FROM submissions WHERE id > ? ORDER BY id LIMIT ?", (after, page_size)
            )
            if rows:
                yield [self._item(row) for row in rows]
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def _replace_one(self, item_id: str, expected: Mapping[str, str], new: Mapping[str, str]) -> bool:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM submissions WHERE id = ?", (item_id,))
        row = rows.fetchone()
        if row is None:
            return False
        item = self._item(row)
        if any(item.fields.get(name) != value for name, value in expected.items()):
            return False
        changed = replace(item, fields={**item.fields, **new})
        check_item(changed)
        fields = json.dumps(changed.fields)
        self._db.execute("UPDATE submissions SET fields = ? WHERE id = ?", (fields, item_id))
        for sql, params in _beacon_rows(item_id, new):  # `fle reindex` moves an item to a new beacon
            self._db.execute(sql, params)
        return True

    def _replace(self, changes: Sequence[Replacement]) -> list[bool]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")  # other processes too: no write between read and write
                try:
                    done = [self._replace_one(item_id, expected, new) for item_id, expected, new in changes]
                    self._db.execute("COMMIT")  # one synced commit for them all
                    return done
                finally:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
            except sqlite3.Error as e:
                raise StoreUnavailable(f"SQLite store {str(self.path)!r}: {e}") from e

    async def replace_fields(self, item_id: str, expected: Mapping[str, str], new: Mapping[str, str]) -> bool:
        return (await self.replace_many([(item_id, expected, new)]))[0]

    async def replace_many(self, changes: Sequence[Replacement]) -> list[bool]:
        for _, expected, new in changes:
            check_replacement(expected, new)
        frozen = [(item_id, dict(expected), dict(new)) for item_id, expected, new in changes]
        return await asyncio.to_thread(self._replace, frozen) if frozen else []

    async def find(
        self, field: str, beacons: Sequence[str], *, limit: int = FIND_LIMIT, after: str | None = None
    ) -> Found:
        unique = check_lookup(field, beacons, limit, after)
        rows = await self._rows(find_sql(len(unique)), [field, *unique, after or "", limit + 1])
        ids = [row[0] for row in rows]
        return Found(ids=ids[:limit], capped=len(ids) > limit)

    async def delete(self, item_id: str) -> bool:
        statements: list[Statement] = [
            ("DELETE FROM submissions WHERE id = ?", (item_id,)),
            ("DELETE FROM beacons WHERE item_id = ?", (item_id,)),
        ]
        return await asyncio.to_thread(self._write, statements) > 0

    async def close(self) -> None:
        with self._lock:
            self._db.close()
