"""`fle reindex`: beacons under an old index key rewritten under the current one, lookups complete during
and after the migration, concurrent changes never overwritten, a rerun a no-op; SQLite and dynalite."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex import normalize
from blindindex.keys import IndexKeys
from decryptor import AuditLog, Caller, Decryptor
from decryptor.indexes import ConfigIndexes
from decryptor.reindex import Reindexer
from fle import cli
from keystore import Keystore
from store import SqliteStore, Submission
from store.base import Replacement
from tests.decryptor.index_support import (
    all_items,
    audit_records,
    edge_item,
    lookup,
    make_index_keys,
    make_indexed_config,
    put_all,
)
from tests.fixtures_decryptor import proxy_encrypt
from tests.helpers import write_file_keystore

OLD, NEW = "pii-2025", "pii-2026"
TERM = "+1 (404) 555-0150"
TRUE = ["404-555-0150 ", "+1 404 555 0150", "14045550150"]  # digits/1: all 14045550150 but the first


@pytest.fixture
def setup(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    keystore = write_file_keystore(tmp_path / "ks", other_rsa_key, "pw", name="OldKey")
    index_keys = make_index_keys(tmp_path / "index", OLD, NEW)
    config = make_indexed_config(tmp_path / "config", rsa_key, Key=NEW, PreviousKey=OLD)
    for name in ("FLE_KEYSTORE", "FLE_STORE", "FLE_CONFIG", "FLE_INDEX_KEYS", "FLE_AUDIT_FILE"):
        monkeypatch.delenv(name, raising=False)
    return keystore, index_keys, config


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return f"dynamodb://{request.getfixturevalue('dynamodb_env')}"


def beacon(keys: IndexKeys, key: str, phone: str) -> str:
    return keys.beacon(key, "phone", 16, normalize("digits", phone))


def stored_records(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, keys: IndexKeys
) -> list[Submission]:
    """Records from before the rotation (old index key; some under the old RSA key too) and during it."""
    before = [edge_item(rsa_key, keys, p, index_key=OLD) for p in [*TRUE, *others(20)]]
    before += [
        edge_item(other_rsa_key, keys, p, index_key=OLD, key_name="OldKey")
        for p in ["1-404-555-0150", "555 0199"]
    ]
    during = [  # the edge writes both beacons while PreviousKey is set
        edge_item(rsa_key, keys, p, index_key=NEW, extra={"phone__bidx_prev": beacon(keys, OLD, p)})
        for p in ["14045550150", *others(5, 50)]
    ]
    return [*before, *during]


def others(count: int, start: int = 0) -> list[str]:
    return [f"+1 (404) 555-{n:04d}" for n in range(start, start + count)]  # 0150 not among the first 100


def reindex(keystore: Path, index_keys: Path, config: Path, url: str, audit: Path, *extra: str) -> int:
    return cli.main(["reindex", "--config", str(config), "--index-keys", str(index_keys), "--store", url,
                     "--keystore", str(keystore), "--audit-file", str(audit), *extra])  # fmt: skip


def test_old_beacons_are_rewritten_and_a_rerun_is_a_no_op(
    setup,  # type: ignore[no-untyped-def]
    store_url: str,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keystore, index_keys, config = setup
    keys = IndexKeys.load(index_keys)
    records = stored_records(rsa_key, other_rsa_key, keys)
    plain = Submission(fields={"phone": "404-555-0150", "phone__bidx": beacon(keys, OLD, TERM)})
    asyncio.run(put_all(store_url, [*records, plain, Submission(fields={"name": "no phone"})]))
    true_ids = sorted(
        r.id for r in records if normalize("digits", _phone_of(r, rsa_key, other_rsa_key)) == "14045550150"
    )
    assert len(true_ids) == 4
    before = asyncio.run(all_items(store_url))
    assert sorted(lookup(before, [beacon(keys, NEW, TERM)])) != true_ids  # the new beacon alone misses some

    audit = tmp_path / "audit.jsonl"
    assert reindex(keystore, index_keys, config, store_url, audit) == 0
    out = capsys.readouterr().out
    phones = {r.id: _phone_of(r, rsa_key, other_rsa_key) for r in records}
    current = sum(r.fields["phone__bidx"] == beacon(keys, NEW, phones[r.id]) for r in records)
    assert current >= 6  # those written during the rotation (an old beacon may equal its new one, by chance)
    assert "read 33 items holding 31 indexed values" in out
    assert f"rewrote {31 - current} beacons; {current} already current" in out
    assert "1 indexed fields are not ciphertext: left alone" in out

    after = asyncio.run(all_items(store_url))
    for record in records:
        stored = after[record.id]
        assert stored.fields["phone"] == record.fields["phone"]  # the ciphertext is untouched
        assert stored.fields["phone__bidx"] == beacon(keys, NEW, phones[record.id])
        assert stored.fields.get("phone__bidx_prev") == record.fields.get(
            "phone__bidx_prev"
        )  # left as written
    assert after[plain.id] == before[plain.id]
    assert lookup(after, [beacon(keys, NEW, TERM)]) == true_ids  # the new key's beacon finds them all

    started, finished = audit_records(audit, "fle.reindex")
    assert (started["outcome"], finished["outcome"]) == ("started", "finished")
    assert started["indexes"] == [{"field": "phone", "name": "phone", "key": NEW, "normalize": "digits/1"}]
    counts = (finished["seen"], finished["rewritten"], finished["current"], finished["failed"])
    assert counts == (31, 31 - current, current, 0)
    assert "555-0150" not in audit.read_text() and "14045550150" not in audit.read_text()

    assert reindex(keystore, index_keys, config, store_url, audit) == 0  # again: nothing to do
    assert "rewrote 0 beacons; 31 already current" in capsys.readouterr().out
    assert asyncio.run(all_items(store_url)) == after


def _phone_of(record: Submission, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> str:
    """The test's own decryption of a record's phone, to check beacons against (aws-encryption-sdk)."""
    import base64

    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    from tests.helpers import raw_master_key

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    for key, name in ((rsa_key, "DemoPublicKey"), (other_rsa_key, "OldKey")):
        try:
            plaintext, _ = client.decrypt(
                source=base64.b64decode(record.fields["phone"]),
                key_provider=raw_master_key(key, "FLEDemo", name),
            )
        except Exception:
            continue
        return plaintext.decode()  # type: ignore[no-any-return]
    raise AssertionError("no test key opens the record")


class WatchedStore(SqliteStore):
    """The real SQLite store; after each write of the reindexer, a lookup with both beacons (as the edge
    sends them while PreviousKey is set) is made and its answer kept."""

    def __init__(self, path: Path, beacons: Sequence[str]) -> None:
        super().__init__(path)
        self.beacons = list(beacons)
        self.answers: list[list[str]] = []

    async def replace_many(self, changes: Sequence[Replacement]) -> list[bool]:
        done = await super().replace_many(changes)
        items = {item.id: item async for page in self.scan() for item in page}
        self.answers.append(lookup(items, self.beacons))
        return done


class RacingStore(SqliteStore):
    """The real SQLite store, with the application changing an item's phone just before the reindexer's
    conditional write for it."""

    def __init__(self, path: Path, victim: str, change: Mapping[str, str]) -> None:
        super().__init__(path)
        self.victim, self.change = victim, dict(change)

    async def replace_many(self, changes: Sequence[Replacement]) -> list[bool]:
        for item_id, expected, _new in changes:
            if item_id == self.victim:  # the application's own conditional write, once
                self.victim = ""
                assert await super().replace_many([(item_id, expected, self.change)]) == [True]
        return await super().replace_many(changes)


def _reindexer(keystore: Path, index_keys: Path, config: Path, audit: Path, batch: int) -> Reindexer:
    indexes = ConfigIndexes.load(config)
    return Reindexer(
        Decryptor(Keystore.from_file(keystore)), IndexKeys.load(index_keys), list(indexes.by_field.values()),
        AuditLog(str(audit)), Caller("test"), batch=batch,
    )  # fmt: skip


async def test_lookups_with_both_beacons_find_every_record_during_the_migration(
    setup,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    keystore, index_keys, config = setup
    keys = IndexKeys.load(index_keys)
    records = stored_records(rsa_key, other_rsa_key, keys)
    store = WatchedStore(tmp_path / "watched.db", [beacon(keys, NEW, TERM), beacon(keys, OLD, TERM)])
    for record in records:
        await store.put(record)
    true_ids = sorted(
        r.id for r in records if normalize("digits", _phone_of(r, rsa_key, other_rsa_key)) == "14045550150"
    )
    reindexer = _reindexer(keystore, index_keys, config, tmp_path / "a.jsonl", batch=4)
    try:
        report = await reindexer.run(store)
    finally:
        reindexer.close()
        await store.close()
    assert report.ok and report.rewritten + report.current == 31 and report.current >= 6
    assert len(store.answers) >= 5  # a lookup after each of several pages
    assert all(answer == true_ids for answer in store.answers)


async def test_a_concurrent_change_is_counted_and_never_overwritten(
    setup,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    keystore, index_keys, config = setup
    keys = IndexKeys.load(index_keys)
    records = [edge_item(rsa_key, keys, p, index_key=OLD) for p in others(6)]
    # the user changed the number meanwhile
    updated = edge_item(rsa_key, keys, "404 555 0177", index_key=NEW)
    change = {"phone": updated.fields["phone"], "phone__bidx": updated.fields["phone__bidx"]}
    store = RacingStore(tmp_path / "race.db", records[2].id, change)
    for record in records:
        await store.put(record)
    reindexer = _reindexer(keystore, index_keys, config, tmp_path / "a.jsonl", batch=100)
    try:
        report = await reindexer.run(store)
        assert report.conflicts == [(records[2].id, "phone")] and not report.ok
        assert report.rewritten == 5
        victim = await store.get(records[2].id)
        assert victim is not None and victim.fields["phone__bidx"] == updated.fields["phone__bidx"]
        again = await reindexer.run(SqliteStore(tmp_path / "race.db"))
    finally:
        reindexer.close()
        await store.close()
    assert (again.rewritten, again.current, again.conflicts) == (0, 6, [])
    (_, first, _, second) = audit_records(tmp_path / "a.jsonl", "fle.reindex")
    assert first["conflicts"] == [{"id": records[2].id, "field": "phone"}] and second["conflicts"] == []


def test_failures_and_items_without_a_beacon_are_reported(
    setup,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    keystore, index_keys, config = setup
    keys = IndexKeys.load(index_keys)
    good = edge_item(rsa_key, keys, TERM, index_key=OLD)
    retired = Submission(fields={**good.fields, "phone": proxy_encrypt(rsa_key, b"1", name="RetiredKey")})
    no_digits = Submission(fields={**good.fields, "phone": proxy_encrypt(rsa_key, b"ask at the desk")})
    no_beacon = Submission(fields={"phone": proxy_encrypt(rsa_key, b"404-555-0150")})
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    asyncio.run(put_all(store_url, [good, retired, no_digits, no_beacon]))
    audit = tmp_path / "audit.jsonl"
    assert reindex(keystore, index_keys, config, store_url, audit) == 1
    out = capsys.readouterr().out
    assert "rewrote 1 beacons; 0 already current" in out
    assert f"FAILED   {retired.id} phone: key_unknown: no private key for FLEDemo/RetiredKey" in out
    assert f"FAILED   {no_digits.id} phone: not_normalized: normalizer digits/1 refuses the value" in out
    assert "1 values have no <field>__bidx beacon" in out and no_beacon.id in out
    finished = audit_records(audit, "fle.reindex")[-1]
    assert sorted((f["id"], f["reason"]) for f in finished["failures"]) == sorted(
        [(retired.id, "key_unknown"), (no_digits.id, "not_normalized")]
    )
    assert finished["missing"] == 1
    assert "ask at the desk" not in audit.read_text() and "ask at the desk" not in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"index_keys": None}, "give --index-keys FILE"),
        ({"extra": ["--field", "email"]}, "--field email: no index on it in the config (indexed: phone)"),
        ({"key": "pii-2027"}, "no index_key named 'pii-2027'"),
    ],
)
def test_what_stops_a_run_before_any_work(
    setup,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    capsys: pytest.CaptureFixture[str],
    change: dict,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    keystore, index_keys, config = setup
    if "key" in change:
        config = make_indexed_config(tmp_path / "config2", rsa_key, Key=change["key"])
    argv = [
        "reindex",
        "--config",
        str(config),
        "--store",
        f"sqlite:///{tmp_path / 's.db'}",
        "--keystore",
        str(keystore),
    ]
    if change.get("index_keys", 1) is not None:
        argv += ["--index-keys", str(index_keys)]
    asyncio.run(put_all(f"sqlite:///{tmp_path / 's.db'}", []))
    assert cli.main([*argv, *change.get("extra", [])]) == 2
    assert message in capsys.readouterr().err


def test_rotating_to_an_index_key_held_in_softhsm(
    setup, softhsm, pkcs11_pin: str, rsa_key: rsa.RSAPrivateKey, tmp_path: Path,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The new index key is generated inside a PKCS#11 token (HMAC computed there); the old one a file."""
    import uuid

    from blindindex.pkcs11_key import generate_index_keys
    from blindindex.settings import IndexKeyEntry, Pkcs11KeySettings
    from blindindex.tooling import append_entry
    from tests.fixtures_softhsm import PIN, PIN_ENV

    keystore, index_keys, _ = setup
    settings = Pkcs11KeySettings(softhsm.module, "fle-gen", PIN_ENV, f"bidx-{uuid.uuid4().hex[:12]}")
    generate_index_keys(settings, PIN, ["phone"])
    append_entry(index_keys, IndexKeyEntry("hsm-2026", settings))
    config = make_indexed_config(tmp_path / "config-hsm", rsa_key, Key="hsm-2026", PreviousKey=OLD)
    keys = IndexKeys.load(index_keys)
    records = [edge_item(rsa_key, keys, p, index_key=OLD) for p in [TERM, *others(5)]]
    store_url = f"sqlite:///{tmp_path / 'hsm.db'}"
    asyncio.run(put_all(store_url, records))
    assert reindex(keystore, index_keys, config, store_url, tmp_path / "a.jsonl") == 0
    assert "read 6 items holding 6 indexed values" in capsys.readouterr().out
    after = asyncio.run(all_items(store_url))
    assert lookup(after, [beacon(keys, "hsm-2026", TERM)]) == [records[0].id]
    assert all(
        after[r.id].fields["phone__bidx"] == beacon(keys, "hsm-2026", p)
        for r, p in zip(records, [TERM, *others(5)], strict=True)
    )
    keys.close()
