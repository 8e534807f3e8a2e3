"""What only the SQLite backend has: files written by earlier versions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from store import SqliteStore


async def test_a_store_written_before_the_metadata_existed_opens_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE submissions (id TEXT PRIMARY KEY, received_at TEXT NOT NULL, fields TEXT NOT NULL)"
    )
    db.execute(
        "INSERT INTO submissions VALUES (?, ?, ?)",
        ("a" * 32, "2026-01-01T00:00:00.000Z", json.dumps({"x": "1"})),
    )
    db.commit()
    db.close()
    store = SqliteStore(path)
    old = await store.get("a" * 32)
    assert old is not None and old.fields == {"x": "1"} and old.encrypted_fields == ()
    await store.close()
