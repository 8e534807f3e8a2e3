"""A large `fle rewrap` run on worker processes: the same reports, audit lines and stored results as one.

Runs on the file backend and SoftHSM (each worker process opens its own keystore from the same file, so its
own PKCS#11 sessions). The pids that re-wrapped come from Rewrapper.pids / RewrapPool.pids, the hook kept
for tests and diagnostics. Re-wrapping draws fresh OAEP randomness, so two runs never write the same bytes:
the stored results are compared by opening every value with the new key (aws-encryption-sdk).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import AuditLog, Caller
from decryptor.config import MIN_PROCESS_BATCH
from decryptor.rewrap import KeyRef, NewKey, RewrapError, names_key
from decryptor.rewrap_pool import RewrapPool
from decryptor.rewrap_processes import ProcessRewrapper
from decryptor.rewrap_store import Rewrapper, RewrapReport, new_key_for
from fle import cli
from keystore import DEFAULT_WRAPPING, Keystore
from store import SqliteStore, Submission
from tests.fixtures_decryptor import KeySpec, KeystoreFactory, proxy_encrypt
from tests.helpers import raw_master_key

OLD = KeyRef("FLEDemo", "OldKey")
NEW = KeyRef("FLEDemo", "NewKey")
BACKENDS = pytest.mark.parametrize(
    "make_keystore", ["file_keystore_factory", "pkcs11_keystore_factory"], indirect=True
)
FILE_ONLY = pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)
COUNT = MIN_PROCESS_BATCH + 16  # items; with the second fields, ~320 values to re-wrap
TAMPERED, ALREADY_NEW, VICTIM = 3, 4, 7  # the items whose phone fails, needs nothing, changes meanwhile


class RacingStore(SqliteStore):
    """The real SQLite store, with another writer changing the victim's phone right after it was read."""

    def __init__(self, path: Path, victim: str) -> None:
        super().__init__(path)
        self.victim = victim

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, Submission]:
        found = await super().get_many(item_ids)
        if self.victim in found:
            phone = found[self.victim].fields["phone"]
            await super().replace_fields(self.victim, {"phone": phone}, {"phone": "changed by someone else"})
        return found


class Opener:
    """aws-encryption-sdk with its own raw RSA master key for one key, made once (loading a key is slow)."""

    def __init__(self, key: rsa.RSAPrivateKey, ref: KeyRef) -> None:
        self.provider = raw_master_key(key, ref.provider_id, ref.key_name)
        self.client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
        )

    def __call__(self, value: str) -> bytes:
        plaintext, _ = self.client.decrypt(source=base64.b64decode(value), key_provider=self.provider)
        return plaintext  # type: ignore[no-any-return]


def _plaintext(n: int, name: str) -> bytes:
    return (f"404-555-{n:04d}" if name == "phone" else f"4111-{n:04d}").encode()


def _keystore(make_keystore: KeystoreFactory, old: rsa.RSAPrivateKey, new: rsa.RSAPrivateKey) -> Path:
    return make_keystore([KeySpec(old, key_name=OLD.key_name), KeySpec(new, key_name=NEW.key_name)])


async def _fill(path: Path, old: rsa.RSAPrivateKey, new: rsa.RSAPrivateKey) -> list[Submission]:
    items = []
    for i in range(COUNT):
        fields = {"name": f"n{i}", "phone": proxy_encrypt(old, _plaintext(i, "phone"), name=OLD.key_name)}
        if i % 5 == 0:
            fields["card"] = proxy_encrypt(old, _plaintext(i, "card"), name=OLD.key_name)
        if i == TAMPERED:
            raw = bytearray(base64.b64decode(fields["phone"]))
            raw[10] ^= 1  # in the message id: the header tag no longer matches
            fields["phone"] = base64.b64encode(raw).decode()
        if i == ALREADY_NEW:
            fields["phone"] = proxy_encrypt(new, b"404-555-new", name=NEW.key_name)
        items.append(Submission(id=f"item-{i:04d}", fields=fields))
    store = SqliteStore(path)
    for item in items:
        await store.put(item)
    await store.close()
    return items


async def _run(
    keystore: Path, db: Path, processes: int, *, victim: str = "", dry_run: bool = False
) -> tuple[RewrapReport, list[dict[str, object]], frozenset[int]]:
    """A Rewrapper run over `db`: its report, its audit lines (without their time), the pids that worked."""
    store = RacingStore(db, victim)
    keys = Keystore.from_file(keystore)
    audit_path = db.with_name(f"{db.stem}-{processes}-{dry_run}.jsonl")
    audit = AuditLog(str(audit_path))
    try:
        rewrapper = Rewrapper(
            keys, store, OLD, new_key_for(keys, NEW), audit, Caller("test"),
            dry_run=dry_run, processes=processes, keystore_path=str(keystore),
        )  # fmt: skip
        try:
            report = await rewrapper.run()
        finally:
            rewrapper.close()
    finally:
        audit.close()
        keys.close()
        await store.close()
    lines = [json.loads(line) for line in audit_path.read_text().splitlines()]
    for line in lines:
        del line["time"]
    return report, lines, rewrapper.pids


async def _stored(db: Path, ids: list[str]) -> dict[str, Submission]:
    store = SqliteStore(db)
    try:
        return await store.get_many(ids)
    finally:
        await store.close()


def _same(report: RewrapReport) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(report).items() if k != "seconds"}


@BACKENDS
async def test_a_large_run_is_the_same_on_one_and_two_processes(
    make_keystore: KeystoreFactory,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    keystore = _keystore(make_keystore, rsa_key, other_rsa_key)
    one_db, two_db = tmp_path / "one.db", tmp_path / "two.db"
    items = await _fill(one_db, rsa_key, other_rsa_key)
    shutil.copy(one_db, two_db)
    victim = items[VICTIM].id

    # a dry run on two processes re-wraps in memory and writes nothing
    dry, dry_audit, dry_pids = await _run(keystore, two_db, 2, dry_run=True)
    assert len(dry_pids) == 2 and os.getpid() not in dry_pids
    assert await _stored(two_db, [i.id for i in items]) == {i.id: i for i in items}
    assert {line["outcome"] for line in dry_audit} == {"would-rewrap", "failed"}

    one, one_audit, one_pids = await _run(keystore, one_db, 1, victim=victim)
    two, two_audit, two_pids = await _run(keystore, two_db, 2, victim=victim)
    assert one_pids == {os.getpid()}
    # the work really ran in two worker processes, neither of them this one
    assert len(two_pids) == 2 and os.getpid() not in two_pids
    assert _same(two) == _same(one)
    assert sorted(map(json.dumps, two_audit)) == sorted(map(json.dumps, one_audit))
    values = COUNT + len(range(0, COUNT, 5))
    assert one.planned == COUNT - 1 and one.rewrapped_fields == values - 1 - 1 - 1  # new, tampered, victim
    assert dry.rewrapped_fields == values - 1 - 1  # new, tampered (no one changed the victim then)
    assert one.conflicts == [victim] and list(one.failures) == [items[TAMPERED].id]
    assert "header authentication failed" in one.failures[items[TAMPERED].id]["phone"]
    assert sorted(line["outcome"] for line in one_audit) == sorted(
        ["rewrapped"] * one.rewrapped_fields + ["failed", "conflict"]
    )

    after_one = await _stored(one_db, [i.id for i in items])
    after_two = await _stored(two_db, [i.id for i in items])
    opener = Opener(other_rsa_key, NEW)
    for n, item in enumerate(items):
        for name, value in item.fields.items():
            a, b = after_one[item.id].fields[name], after_two[item.id].fields[name]
            if name == "name" or (n in (TAMPERED, ALREADY_NEW) and name == "phone") or n == VICTIM:
                assert a == b and (a == value or a == "changed by someone else")
                continue
            assert a != value and b != value
            for rewrapped in (a, b):
                raw = base64.b64decode(rewrapped)
                assert names_key(raw, NEW) and not names_key(raw, OLD)
                assert opener(rewrapped) == _plaintext(n, name)


@FILE_ONLY
async def test_a_run_below_the_threshold_and_a_pool_without_a_keystore_file_stay_on_threads(
    make_keystore: KeystoreFactory, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keystore = _keystore(make_keystore, rsa_key, other_rsa_key)
    keys = Keystore.from_file(keystore)
    new = new_key_for(keys, NEW)
    values = [proxy_encrypt(rsa_key, b"v", name=OLD.key_name)] * MIN_PROCESS_BATCH
    small = RewrapPool(keys, OLD, new, workers=2, processes=2, keystore_path=str(keystore))
    no_file = RewrapPool(keys, OLD, new, workers=2, processes=2)
    try:
        small.prepare(MIN_PROCESS_BATCH - 1)
        no_file.prepare(MIN_PROCESS_BATCH)
        for pool, count in ((small, MIN_PROCESS_BATCH - 1), (no_file, MIN_PROCESS_BATCH)):
            outcomes = await pool.outcomes(values[:count])
            assert pool.pids == {os.getpid()} and all(o.value for o in outcomes)
    finally:
        small.close()
        no_file.close()
        keys.close()


@FILE_ONLY
async def test_a_killed_worker_sends_the_rest_to_threads(
    make_keystore: KeystoreFactory, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keystore = _keystore(make_keystore, rsa_key, other_rsa_key)
    keys = Keystore.from_file(keystore)
    pool = RewrapPool(keys, OLD, new_key_for(keys, NEW), workers=2, processes=2, keystore_path=str(keystore))
    values = [proxy_encrypt(rsa_key, f"v{i}".encode(), name=OLD.key_name) for i in range(MIN_PROCESS_BATCH)]
    try:
        pool.prepare(len(values))
        first = await pool.outcomes(values)
        assert len(pool.pids) == 2 and os.getpid() not in pool.pids
        os.kill(min(pool.pids), signal.SIGKILL)
        executor = pool._processes._pool  # type: ignore[union-attr]
        for _ in range(200):  # until the executor has seen its worker die (bounded: 10 s)
            if executor._broken:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        pool.pids.clear()
        second = await pool.outcomes(values)  # the same values, on this process's threads
        assert pool.pids == {os.getpid()}
    finally:
        pool.close()
        keys.close()
    opener = Opener(other_rsa_key, NEW)
    for outcomes in (first, second):
        assert all(o.value and not o.reason for o in outcomes)
        assert [opener(o.value or "") for o in outcomes] == [f"v{i}".encode() for i in range(len(values))]


@FILE_ONLY
def test_workers_refuse_a_new_key_other_than_the_self_tested_one(
    make_keystore: KeystoreFactory, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keystore = _keystore(make_keystore, rsa_key, other_rsa_key)
    # as if the keystore file had been changed after the parent self-tested NewKey: workers see another key
    stale = NewKey(NEW, rsa_key.public_key(), DEFAULT_WRAPPING.padding())
    with pytest.raises(RewrapError, match="keystore file changed during the run"):
        ProcessRewrapper(str(keystore), OLD, stale, 2, 1)


@FILE_ONLY
async def test_fle_rewrap_processes_flag(
    make_keystore: KeystoreFactory,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keystore = _keystore(make_keystore, rsa_key, other_rsa_key)
    db = tmp_path / "store.db"
    items = await _fill(db, rsa_key, other_rsa_key)
    argv = ["rewrap", "--from", str(OLD), "--to", str(NEW), "--keystore", str(keystore),
            "--store", f"sqlite:///{db}", "--audit-file", str(tmp_path / "audit.jsonl")]  # fmt: skip
    assert await asyncio.to_thread(cli.main, [*argv, "--processes", "0"]) == 2
    assert "FLE_DECRYPT_PROCESSES must be from 1 to 64, not 0" in capsys.readouterr().err
    caplog.set_level(logging.DEBUG, logger="decryptor.rewrap_pool")
    assert await asyncio.to_thread(cli.main, [*argv, "--processes", "2"]) == 1  # the tampered value fails
    assert "re-wrapping on 2 worker processes, 2 threads each" in caplog.text
    values = COUNT + len(range(0, COUNT, 5))
    assert f"re-wrapped {values - 2} values in {COUNT - 2} items" in capsys.readouterr().out
    audit = (tmp_path / "audit.jsonl").read_text()
    assert len(audit.splitlines()) == values - 1  # every value once: re-wrapped, or failed (the tampered one)
    assert not any(v[20:60] in audit for i in items for v in i.fields.values() if len(v) > 60)  # no value
