"""The embedded default store: one SQLite file, accessed from a worker thread."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from .errors import DuplicateItem, StoreUnavailable
from .model import Submission

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_received_at ON submissions (received_at);
"""


class SqliteStore:
    """Submissions in a SQLite table; writes serialised by a lock, calls run off the event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise StoreUnavailable(f"cannot open SQLite store {str(self.path)!r}: {e}") from e

    def _run(self, sql: str, params: Sequence[object] = ()) -> list[tuple[str, str, str]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.IntegrityError as e:
                raise DuplicateItem(str(e)) from e
            except sqlite3.Error as e:
                raise StoreUnavailable(f"SQLite store {str(self.path)!r}: {e}") from e

    @staticmethod
    def _item(row: tuple[str, str, str]) -> Submission:
        return Submission(id=row[0], received_at=row[1], fields=json.loads(row[2]))

    async def put(self, item: Submission) -> None:
        await asyncio.to_thread(
            self._run,
            "INSERT INTO submissions (id, received_at, fields) VALUES (?, ?, ?)",
            (item.id, item.received_at, json.dumps(item.fields)),
        )

    async def get(self, item_id: str) -> Submission | None:
        rows = await asyncio.to_thread(
            self._run, "SELECT id, received_at, fields FROM submissions WHERE id = ?", (item_id,)
        )
        return self._item(rows[0]) if rows else None

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, Submission]:
        if not item_ids:
            return {}
        marks = ",".join("?" * len(item_ids))
        rows = await asyncio.to_thread(
            self._run,
            f"SELECT id, received_at, fields FROM submissions WHERE id IN ({marks})",
            list(item_ids),
        )
        return {row[0]: self._item(row) for row in rows}

    async def recent(self, limit: int) -> list[Submission]:
        rows = await asyncio.to_thread(
            self._run,
            "SELECT id, received_at, fields FROM submissions ORDER BY received_at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [self._item(row) for row in rows]

    async def close(self) -> None:
        with self._lock:
            self._db.close()
