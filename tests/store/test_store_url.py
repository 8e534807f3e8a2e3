"""Store URLs: `sqlite:///relative` vs `sqlite:////absolute`; read-only users never create a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from decryptor import handler
from store import SqliteStore, StoreUnavailable, StoreUrlError, open_store
from tests.fixtures_decryptor import BEFORE_ANY_BACKEND, DecryptEnv, logged_refusal


async def test_three_slashes_are_relative_four_are_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/store.db")
    absolute = open_store(f"sqlite:///{tmp_path / 'abs' / 'store.db'}")  # an absolute path: four slashes
    await relative.close()
    await absolute.close()
    assert (tmp_path / "data" / "store.db").is_file() and (tmp_path / "abs" / "store.db").is_file()


def test_a_three_slash_url_that_meant_an_absolute_path_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqliteStore(tmp_path / "store.db")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    url = "sqlite:///" + str(tmp_path / "store.db").lstrip("/")  # /tmp/... written with three slashes
    with pytest.raises(StoreUrlError, match="four slashes"):
        open_store(url)
    assert list(work.iterdir()) == []


def test_read_only_users_refuse_a_missing_file_and_create_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no SQLite store at"):
        open_store(f"sqlite:///{tmp_path / 'typo' / 'store.db'}", create=False)
    assert not (tmp_path / "typo").exists()
    (tmp_path / "other.db").write_bytes(b"")
    with pytest.raises(StoreUnavailable, match="without a submissions table"):
        open_store(f"sqlite:///{tmp_path / 'other.db'}", create=False)


async def test_read_only_open_reads_what_a_writer_stored(tmp_path: Path) -> None:
    from store import Submission

    writer = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    item = Submission(fields={"a": "b"})
    await writer.put(item)
    await writer.close()
    reader = open_store(f"sqlite:///{tmp_path / 'store.db'}", create=False)
    try:
        assert await reader.get(item.id) == item
    finally:
        await reader.close()


@BEFORE_ANY_BACKEND
def test_the_handler_does_not_create_a_store(
    decrypt_env: DecryptEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = decrypt_env.store_path.parent / "fle-demo-state" / "store.db"
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{missing}")
    answer = handler.lambda_handler({"recent": 5}, None)
    assert answer == {"error": "store_unavailable"}
    assert "no SQLite store at" in logged_refusal(caplog)
    assert not missing.parent.exists()


def test_a_sqlite_store_and_the_origin_app_load_no_aws_library(tmp_path: Path) -> None:
    """Store backends load lazily, as keystore backends do: an origin on SQLite never imports boto3."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'store.db'}"
    program = (
        "import asyncio, sys\n"
        "from store import open_store\n"
        "import origin.app\n"
        "async def main():\n"
        f"    store = open_store({url!r})\n"
        "    await store.check()\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
        "import store\n"
        "store.DynamoStore\n"  # the name still resolves, now importing boto3
        "print('boto3' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True"]
    assert (tmp_path / "store.db").is_file()
