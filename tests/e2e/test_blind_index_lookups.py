"""Blind-index lookups end to end (issue 23): records written by the edge, found through the edge.

Each record's body is rewritten by the edge's own code (CompiledConfig + rewrite_body: the ciphertext and
its `phone__bidx` beacon) and stored as the origin stores a submission; lookups then go through the real
proxy to the real origin's `/find`, and the decryptor's `match` (its Lambda handler) keeps the true ones.
Each stored value is typed in two spellings the `digits` normalizer makes one, and searched in a third.

What must hold: every lookup finds every record of its value (recall 100 %), `match` leaves exactly them
(precision 100 %), and the mean number of candidates per lookup is within 25 % of what the planner
predicts (records per value x `candidates_per_lookup`). Two set-ups: SQLite with a file index key, over
10,000 records; dynalite (a global secondary index) with the index key generated inside SoftHSM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex import normalize, safe_lengths
from blindindex.keys import IndexKeys
from blindindex.pkcs11_key import generate_index_keys
from blindindex.settings import FileKeySettings, IndexKeyEntry, Pkcs11KeySettings
from blindindex.tooling import append_entry, create_root_key_file
from decryptor import handler
from edge_proxy.pipeline.bodies import rewrite_body
from edge_proxy.pipeline.compiled import CompiledConfig
from fields.limits import Limits
from fle import cli
from origin import build_app as build_origin
from origin.saving import submission
from profiles import load_config_dir, select
from store import Store, open_store
from tests.decryptor.index_support import make_indexed_config
from tests.fixtures_decryptor import DecryptEnv
from tests.fixtures_proxy import Canary, proxy_stack
from tests.fixtures_softhsm import PIN, PIN_ENV, SoftHsm
from tests.helpers import serving

FORM = "application/x-www-form-urlencoded"
pytestmark = [
    pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True),
    pytest.mark.timeout(600),
]


@dataclass(frozen=True)
class Scale:
    records: int  # stored, REPEAT per distinct value
    lookups: int


REPEAT = 2
SQLITE = Scale(records=10_000, lookups=1_000)
DYNALITE = Scale(records=600, lookups=100)


def spellings(n: int) -> tuple[str, str, str]:
    """Three ways to type the n-th number; `digits` reads each as 1404555nnnn (n < 10,000)."""
    return f"+1 (404) 555-{n:04d}", f"1-404-555-{n:04d}", f"1 404 555 {n:04d}"


def file_index_keys(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        root = directory / f"{name}.hex"
        create_root_key_file(root)
        append_entry(directory / "index-keys.toml", IndexKeyEntry(name, FileKeySettings(root)))
    return directory / "index-keys.toml"


def token_index_keys(directory: Path, softhsm: SoftHsm) -> Path:
    """The index key generated inside the SoftHSM token (non-extractable), as `fle index keys create` does."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = Pkcs11KeySettings(
        str(softhsm.module), "fle-gen", PIN_ENV, f"e2e-{os.getpid()}-{random.getrandbits(32):08x}"
    )
    generate_index_keys(settings, PIN, ["phone"])
    append_entry(directory / "index-keys.toml", IndexKeyEntry("pii-2026", settings))
    return directory / "index-keys.toml"


async def store_records(
    store: Store, compiled: CompiledConfig, distinct: int, start: int = 0
) -> dict[int, set[str]]:
    """REPEAT records per value, each rewritten by the edge's code and stored as the origin stores it."""
    config = compiled.config
    ids: dict[int, set[str]] = {}
    for n in range(start, start + distinct):
        for typed in spellings(n)[:REPEAT]:
            body = f"name=user{n}&phone={quote(typed)}".encode()
            out, count = rewrite_body(select(config, FORM, []), body, FORM, compiled, Limits())
            assert count == 1
            item = submission(dict(parse_qsl(out.decode(), strict_parsing=True)), None)
            assert "phone__bidx" in item.fields and item.encrypted_fields == ("phone",)
            await store.put(item)
            ids.setdefault(n, set()).add(item.id)
    return ids


async def run_lookups(
    proxy: str, truth: dict[int, set[str]], lookups: int, seed: int
) -> tuple[list[int], list[tuple[set[str], set[str]]]]:
    """(candidates per lookup, [(true ids, matched ids)]) for `lookups` values picked at random."""
    counts: list[int] = []
    results: list[tuple[set[str], set[str]]] = []
    rng = random.Random(seed)
    async with aiohttp.ClientSession() as session:
        for n in rng.sample(sorted(truth), lookups):
            async with session.post(
                f"{proxy}/find", data={"phone": spellings(n)[2]}, headers={"Accept": "application/json"}
            ) as response:
                assert response.status == 200, await response.text()
                found = await response.json()
            assert not found.get("capped")
            candidates = set(found["ids"])
            assert truth[n] <= candidates, f"recall: a record of value {n} was not among the candidates"
            counts.append(len(candidates))
            event = {"match": {"field": found["field"], "term": found["term"], "ids": sorted(candidates)}}
            answer = await asyncio.to_thread(handler.lambda_handler, event, None)
            assert not answer.get("error") and not answer["errors"], answer
            results.append((truth[n], set(answer["ids"])))
    return counts, results


async def check_lookups(
    store_url: str, keys_file: Path, config_dir: Path, scale: Scale, bits: int, indexed: tuple[str, ...]
) -> None:
    keys = IndexKeys.load(keys_file)
    config = load_config_dir(config_dir).only_config()
    compiled = CompiledConfig(config, index_keys=keys)
    store = open_store(store_url, indexed_fields=indexed)
    try:
        truth = await store_records(store, compiled, scale.records // REPEAT)
        async with (
            serving(build_origin(store)) as origin,
            proxy_stack(Canary(), config_dir, origin=origin, index_keys=keys) as stack,
        ):
            counts, results = await run_lookups(stack.url, truth, scale.lookups, seed=bits)
    finally:
        await store.close()
        keys.close()
    assert all(true == matched for true, matched in results), "precision: match kept a wrong id or lost one"
    plan = next(p for p in safe_lengths(scale.records // REPEAT) if p.bits == bits)
    predicted = REPEAT * plan.candidates_per_lookup
    mean = sum(counts) / len(counts)
    assert abs(mean - predicted) <= 0.25 * predicted, (mean, predicted)


def bits_for(distinct: int) -> int:
    """The longest safe length: the fewest candidates, so the match step stays short."""
    return max(p.bits for p in safe_lengths(distinct))


def test_ten_thousand_records_on_sqlite_with_a_file_index_key(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bits = bits_for(SQLITE.records // REPEAT)
    config_dir = make_indexed_config(tmp_path / "config", rsa_key, Bits=bits)
    monkeypatch.setenv("FLE_CONFIG", str(config_dir))
    keys_file = file_index_keys(tmp_path / "keys", "pii-2026")
    asyncio.run(check_lookups(os.environ["FLE_STORE"], keys_file, config_dir, SQLITE, bits, ()))


def test_dynalite_gsi_with_the_index_key_in_softhsm(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    softhsm: SoftHsm,
    dynamodb_env: str,
) -> None:
    monkeypatch.setenv(PIN_ENV, PIN)
    bits = bits_for(DYNALITE.records // REPEAT)
    config_dir = make_indexed_config(tmp_path / "config", rsa_key, Bits=bits)
    monkeypatch.setenv("FLE_CONFIG", str(config_dir))
    store_url = f"dynamodb://{dynamodb_env}"
    monkeypatch.setenv("FLE_STORE", store_url)
    keys_file = token_index_keys(tmp_path / "keys", softhsm)
    asyncio.run(check_lookups(store_url, keys_file, config_dir, DYNALITE, bits, ("phone",)))


def test_lookups_keep_working_while_the_index_key_rotates(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Records under the old index key, then more written while rotating (both beacons), `fle reindex`,
    then the old key dropped: at every step each value is found through the edge and matched exactly.
    Everything the edge, the origin, `match` and `fle reindex` log meanwhile (at DEBUG) holds no phone
    number in any spelling and no beacon."""
    for name in ("edge_proxy", "origin", "decryptor", "fle", "blindindex", "store", "aiohttp.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    keys_file = file_index_keys(tmp_path / "keys", "old", "new")
    store_url = os.environ["FLE_STORE"]
    steps = {
        "before": make_indexed_config(tmp_path / "before", rsa_key, Key="old", Bits=6),
        "rotating": make_indexed_config(tmp_path / "rotating", rsa_key, Key="new", PreviousKey="old", Bits=6),
        "after": make_indexed_config(tmp_path / "after", rsa_key, Key="new", Bits=6),
    }

    async def write(step: str, start: int) -> dict[int, set[str]]:
        keys = IndexKeys.load(keys_file)
        compiled = CompiledConfig(load_config_dir(steps[step]).only_config(), index_keys=keys)
        store = open_store(store_url)
        try:
            return await store_records(store, compiled, 60, start)
        finally:
            await store.close()
            keys.close()

    async def lookups(step: str, truth: dict[int, set[str]]) -> None:
        keys = IndexKeys.load(keys_file)
        store = open_store(store_url)
        try:
            async with (
                serving(build_origin(store)) as origin,
                proxy_stack(Canary(), steps[step], origin=origin, index_keys=keys) as stack,
            ):
                _, results = await run_lookups(stack.url, truth, len(truth), seed=7)
        finally:
            await store.close()
            keys.close()
        assert all(true == matched for true, matched in results), step

    truth = asyncio.run(write("before", 0))
    monkeypatch.setenv("FLE_CONFIG", str(steps["rotating"]))
    truth |= asyncio.run(write("rotating", 100))
    asyncio.run(lookups("rotating", truth))  # old records by __bidx_prev's beacon, new ones by __bidx
    assert cli.main(["reindex", "--config", str(steps["rotating"]), "--index-keys", str(keys_file),
                     "--store", store_url, "--keystore", str(decrypt_env.keystore)]) == 0  # fmt: skip
    asyncio.run(lookups("rotating", truth))
    monkeypatch.setenv("FLE_CONFIG", str(steps["after"]))
    asyncio.run(lookups("after", truth))  # every record carries the new key's beacon now

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records  # the check below reads something
    for n in truth:
        for typed in spellings(n):
            assert typed not in logged and normalize("digits", typed) not in logged
    assert "__bidx=" not in logged and '__bidx":' not in logged
