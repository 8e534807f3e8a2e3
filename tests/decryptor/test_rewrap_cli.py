"""`fle rewrap` on each store backend: dry run, failures reported, conflicts never overwritten, bad input."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import AuditLog, Caller
from decryptor.config import MIN_PROCESS_BATCH
from decryptor.rewrap import KeyRef
from decryptor.rewrap_store import Rewrapper, new_key_for
from fle import cli
from keystore import Keystore
from store import SqliteStore, Store, Submission, open_store
from tests.fixtures_decryptor import proxy_encrypt
from tests.helpers import write_file_keystore

OLD = KeyRef("FLEDemo", "OldKey")
NEW = KeyRef("FLEDemo", "NewKey")


@pytest.fixture
def keystore(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, monkeypatch
) -> Path:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    write_file_keystore(tmp_path / "ks", rsa_key, "pw", name=OLD.key_name)
    return write_file_keystore(tmp_path / "ks", other_rsa_key, "pw", name=NEW.key_name)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return f"dynamodb://{request.getfixturevalue('dynamodb_env')}"


async def _put(store_url: str, items: Sequence[Submission]) -> None:
    store = open_store(store_url)
    try:
        for item in items:
            await store.put(item)
    finally:
        await store.close()


async def _get(store_url: str, item_id: str) -> Submission:
    store = open_store(store_url)
    try:
        item = await store.get(item_id)
        assert item is not None
        return item
    finally:
        await store.close()


def _rewrap(keystore: Path, store_url: str, *extra: str) -> int:
    return cli.main(["rewrap", "--from", str(OLD), "--to", str(NEW), "--keystore", str(keystore),
                     "--store", store_url, *extra])  # fmt: skip


async def test_dry_run_writes_nothing_and_a_tampered_value_fails_alone(
    keystore: Path,
    store_url: str,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = Submission(fields={"a": proxy_encrypt(rsa_key, b"one", name=OLD.key_name), "plain": "x"})
    raw = bytearray(base64.b64decode(proxy_encrypt(rsa_key, b"two", name=OLD.key_name)))
    raw[-40] ^= 1  # in the body: rewrap does not read the body, so this one re-wraps (and still fails later)
    header_tampered = bytearray(base64.b64decode(proxy_encrypt(rsa_key, b"three", name=OLD.key_name)))
    header_tampered[10] ^= 1  # in the message id: the header tag no longer matches
    unreadable = bytearray(base64.b64decode(proxy_encrypt(rsa_key, b"four", name=OLD.key_name)))
    unreadable[20] ^= 1  # the encryption context's length: the header no longer parses
    mixed = Submission(
        fields={
            "b": base64.b64encode(raw).decode(),
            "c": base64.b64encode(header_tampered).decode(),
            "d": base64.b64encode(unreadable).decode(),
        }
    )
    await _put(store_url, [good, mixed])
    audit = tmp_path / "audit.jsonl"

    code = await asyncio.to_thread(_rewrap, keystore, store_url, "--dry-run", "--audit-file", str(audit))
    assert code == 1
    out = capsys.readouterr().out
    assert "would re-wrap 2 values in 2 items" in out
    assert "1 value looks like ciphertext but cannot be read" in out
    assert f"FAILED   {mixed.id} c: " in out
    assert await _get(store_url, good.id) == good and await _get(store_url, mixed.id) == mixed

    code = await asyncio.to_thread(_rewrap, keystore, store_url, "--audit-file", str(audit))
    assert code == 1
    out = capsys.readouterr().out
    assert "re-wrapped 2 values in 2 items" in out and "header authentication failed" in out
    after = await _get(store_url, mixed.id)
    assert after.fields["b"] != mixed.fields["b"] and after.fields["c"] == mixed.fields["c"]
    assert (await _get(store_url, good.id)).fields["plain"] == "x"
    outcomes = [json.loads(line)["outcome"] for line in audit.read_text().splitlines()]
    assert sorted(outcomes) == sorted(["would-rewrap"] * 2 + ["failed"] + ["rewrapped"] * 2 + ["failed"])


class RacingStore(SqliteStore):
    """The real SQLite store, with another writer changing an item right after the rewrapper read it."""

    def __init__(self, path: Path, victim: str) -> None:
        super().__init__(path)
        self.victim = victim

    async def get_many(self, item_ids):  # type: ignore[no-untyped-def]
        found = await super().get_many(item_ids)
        if self.victim in found:
            item = found[self.victim]
            await super().replace_fields(item.id, {"a": item.fields["a"]}, {"a": "changed by someone else"})
        return found


async def test_a_concurrent_change_is_reported_and_never_overwritten(
    keystore: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    items = [Submission(fields={"a": proxy_encrypt(rsa_key, b"v", name=OLD.key_name)}) for _ in range(3)]
    store: Store = RacingStore(tmp_path / "race.db", victim=items[1].id)
    for item in items:
        await store.put(item)
    ks = Keystore.from_file(keystore)
    rewrapper = Rewrapper(
        ks, store, OLD, new_key_for(ks, NEW), AuditLog(str(tmp_path / "a.jsonl")), Caller("test")
    )
    try:
        report = await rewrapper.run()
    finally:
        rewrapper.close()
        ks.close()
    assert report.conflicts == [items[1].id] and not report.failures and not report.ok
    assert report.rewrapped_items == 2
    assert (await store.get(items[1].id)).fields["a"] == "changed by someone else"  # type: ignore[union-attr]
    await store.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "FLEDemo", "--to", "FLEDemo/NewKey"], "PROVIDER_ID/KEY_NAME"),
        (["--from", "FLEDemo/OldKey", "--to", "FLEDemo/OldKey"], "same key"),
        (["--from", "FLEDemo/OldKey", "--to", "FLEDemo/Missing"], "no keystore entry"),
        (["--from", "FLEDemo/Missing", "--to", "FLEDemo/NewKey"], "no keystore entry"),
    ],
)
def test_bad_arguments_are_clear_errors(
    keystore: Path, tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["rewrap", *argv, "--keystore", str(keystore), "--store", f"sqlite:///{tmp_path}/s.db"])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_config_whose_public_key_differs_from_the_keystore_is_refused(
    keystore: Path, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures_proxy import cf_config, cf_profile, cf_public_key, write_config_dir

    config = write_config_dir(
        tmp_path / "config",
        cf_public_key("K1", NEW.key_name, rsa_key),  # the OLD private key's public half, named NewKey
        cf_profile("P1", [("K1", "FLEDemo", ["phone"])]),
        cf_config("C1", [("application/x-www-form-urlencoded", "P1")]),
    )
    code = _rewrap(keystore, f"sqlite:///{tmp_path}/s.db", "--config", str(config))
    assert code == 2
    assert "differs from the keystore's new key" in capsys.readouterr().err


def test_an_old_key_that_cannot_be_opened_is_a_clear_error_before_anything_is_read(
    keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = keystore.read_text().replace(
        'passphrase_env = "TEST_KEY_PASSPHRASE"', 'passphrase_env = "NOT_SET"', 1
    )
    keystore.write_text(text)  # the old key's entry (written first) now names an unset variable
    monkeypatch.delenv("NOT_SET", raising=False)
    SqliteStore(tmp_path / "s.db")  # an existing, empty store: rewrap refuses a missing one
    assert _rewrap(keystore, f"sqlite:///{tmp_path}/s.db") == 2
    assert "old key FLEDemo/OldKey: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("count", "extra"),
    [(3, ()), (MIN_PROCESS_BATCH + 4, ("--processes", "2", "--log-level", "DEBUG"))],
    ids=["threads", "two-processes"],
)
async def test_on_a_terminal_audit_lines_go_to_a_file_and_the_scan_shows_progress(
    keystore: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, count: int, extra: tuple[str, ...]
) -> None:
    """stderr is a real pseudo-terminal: the audit JSON must not be mixed into the progress line, whether
    the values are re-wrapped on threads or on worker processes."""
    import os
    import pty
    import subprocess
    import sys

    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    value = proxy_encrypt(rsa_key, b"x", name=OLD.key_name)
    items = [Submission(fields={"phone": value}) for _ in range(count)]
    await _put(store_url, items)
    work = tmp_path / "work"
    work.mkdir()
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "TEST_KEY_PASSPHRASE": "pw"}
    env.pop("FLE_AUDIT_FILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "fle", "rewrap", "--from", str(OLD), "--to", str(NEW),
         "--keystore", str(keystore), "--store", store_url, *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, cwd=work, env=env, text=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = process.communicate(timeout=60)
    terminal = seen.decode()
    assert process.returncode == 0, terminal + out
    assert f"re-wrapped {count} values in {count} items" in out
    (audit,) = work.glob("fle-rewrap-audit-*.jsonl")
    assert f"audit lines go to {audit}" in terminal
    assert "scanning the table, " in terminal and f"rewrap: {count}/{count} items (100%)" in terminal
    assert '"event"' not in terminal
    assert [json.loads(line)["outcome"] for line in audit.read_text().splitlines()] == ["rewrapped"] * count
    if extra:
        assert "re-wrapping on 2 worker processes" in terminal


async def test_the_scan_reports_every_page(keystore: Path, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    for _ in range(25):
        await store.put(Submission(fields={"plain": "x"}))
    keys = Keystore.from_file(keystore)
    rewrapper = Rewrapper(
        keys, store, OLD, new_key_for(keys, NEW), AuditLog(str(tmp_path / "a.jsonl")),
        Caller("cli", {}), batch=2, dry_run=True,
    )  # fmt: skip
    scanned: list[int] = []
    try:
        report = await rewrapper.run(scanned=scanned.append)
    finally:
        rewrapper.close()
        await store.close()
    assert report.scanned == 25 and scanned == [8, 16, 24, 25]  # pages of batch * 4 items
