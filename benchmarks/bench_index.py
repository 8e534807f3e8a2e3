"""Blind indexes (issue 23): what a beacon costs, and whether lookups find exactly what they should.

    python -m benchmarks.bench_index [--rounds 5] [--calls 2000] [--records 100000] [--lookups 1000]
                                     [--wrk-seconds 3] [--no-wrk] [--out FILE] [--write-docs]

Three parts, in one run; the JSON goes to stdout and to benchmark-results/bench-index.json (or --out), its
tables to bench-index.md beside it; `--write-docs` also puts the tables into docs/benchmarks.md, between
its `<!-- bench_index: begin -->` and `<!-- bench_index: end -->` lines (the prose around them is
written by hand from the run).

- beacon: the time per field of the beacon (normalize `digits` + standard beacon, 16 bits) with a file
  root key and with a key generated inside a throwaway SoftHSM2 token (the HMAC computed by the token),
  against the edge's encryption of the same field (edge_proxy.encrypting, suite 0x0178, RSA-2048):
  batches of --calls each, alternated round by round, median µs per call, and the ratios.
- throughput: the edge rewriting the 3-field sample form (`phone` protected) with `phone` indexed (file
  key, and SoftHSM key) against the same config without "Fle:Indexes": `rewrite_body` on a CompiledConfig
  in this process, requests per CPU second, alternated; and, unless --no-wrk, two `fle proxy` processes
  (one per config) driven in turn by wrk (benchmarks/cpu_per_request.py's machinery): CPU µs per request.
- lookups: --records records (2 per distinct value, each typed differently) written by the edge's code and
  stored in SQLite (file index key, the longest safe beacon length for the distinct values), then
  --lookups lookups of values picked at random, each typed a third way: the term rewritten by the edge's
  code, `store.find` by its beacon (timed), the decryptor's `match` (its Lambda handler) on the candidates.
  Recall (every true record among the candidates) and precision after match (exactly the true ones) must
  be 100 %; mean candidates per lookup against the planner's prediction.

Everything stays on 127.0.0.1; every loop is bounded by its count (wrk by --wrk-seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks import needs
from benchmarks.bench_decrypt import write_file_keystore
from blindindex import normalize, safe_lengths
from blindindex.keys import IndexKeys
from blindindex.pkcs11_key import generate_index_keys
from blindindex.settings import FileKeySettings, IndexKeyEntry, Pkcs11KeySettings
from blindindex.tooling import append_entry, create_root_key_file
from edge_proxy.encrypting import esdk
from edge_proxy.pipeline.bodies import rewrite_body
from edge_proxy.pipeline.compiled import CompiledConfig
from fields.limits import Limits
from keystore.tooling import public_pem
from profiles import FleConfig, load_config_dir, select
from profiles.examples import write_example_config
from store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench_index: begin -->", "<!-- bench_index: end -->"
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN_ENV, PIN = "BENCH_INDEX_PIN", "1234"
FORM_TYPE = "application/x-www-form-urlencoded"
FORM = b"name=Jane+Doe&email=jane.doe%40example.com&phone=404-555-0150"  # benchmarks/servers.py's form
PHONE = "+1 (404) 555-0150"
BITS = 16
REPEAT = 2  # records per distinct value in the lookup part


# --- set-up -------------------------------------------------------------------------------------------


def file_keys(directory: Path) -> Path:
    """An index-keys file with one file root key, `pii-2026` (as `fle index keys create` makes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    create_root_key_file(directory / "root.hex")
    append_entry(
        directory / "index-keys.toml", IndexKeyEntry("pii-2026", FileKeySettings(directory / "root.hex"))
    )
    return directory / "index-keys.toml"


def softhsm_keys(directory: Path, index_keys: Path) -> None:
    """A throwaway SoftHSM2 token (its own SOFTHSM2_CONF) with the `phone` index key generated inside it,
    appended to `index_keys` as `pii-hsm`. Call before python-pkcs11 first loads the module."""
    (directory / "tokens").mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ.update(SOFTHSM2_CONF=str(conf), **{PIN_ENV: PIN})
    init = [
        "softhsm2-util",
        "--init-token",
        "--free",
        "--label",
        "bench-index",
        "--pin",
        PIN,
        "--so-pin",
        "5678",
    ]
    subprocess.run(init, check=True, capture_output=True, timeout=30)
    settings = Pkcs11KeySettings(SOFTHSM, "bench-index", PIN_ENV, "pii-hsm")
    generate_index_keys(settings, PIN, ["phone"])
    append_entry(index_keys, IndexKeyEntry("pii-hsm", settings))


def write_configs(directory: Path, key: rsa.RSAPrivateKey, bits: int) -> dict[str, Path]:
    """The sample config (profile protects `phone`; unknown content types forwarded, as servers.py's), and
    the same with `phone` indexed under the file key and under the SoftHSM key."""
    configs = {}
    for name, index_key in (("plain", None), ("file", "pii-2026"), ("softhsm", "pii-hsm")):
        path = directory / name
        write_example_config(path, public_pem(key.public_key()))
        config = json.loads((path / "config.json").read_text())
        config["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"][
            "ForwardWhenContentTypeIsUnknown"
        ] = True
        (path / "config.json").write_text(json.dumps(config))
        if index_key:
            profile = json.loads((path / "profile.json").read_text())
            profile["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["Fle:Indexes"] = [
                {"Field": "phone", "Name": "phone", "Key": index_key, "Bits": bits, "Normalize": "digits"}
            ]
            (path / "profile.json").write_text(json.dumps(profile))
        configs[name] = path
    return configs


def load(config_dir: Path) -> FleConfig:
    return load_config_dir(config_dir).only_config()


# --- measuring ----------------------------------------------------------------------------------------


def alternated(
    contenders: dict[str, Callable[[], object]], calls: int, rounds: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Median over `rounds` of the `clock` seconds per call of each contender, `calls` calls per batch,
    the contenders taken in turn within each round so a busy machine slows them alike."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, call in contenders.items():
            start = clock()
            for _ in range(calls):
                call()
            samples[name].append((clock() - start) / calls)
    return {name: statistics.median(s) for name, s in samples.items()}


def beacon_part(keys: IndexKeys, key: rsa.RSAPrivateKey, calls: int, rounds: int) -> dict[str, Any]:
    field_key = esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey")
    value = PHONE.encode()
    contenders: dict[str, Callable[[], object]] = {
        "beacon_file": lambda: keys.beacon("pii-2026", "phone", BITS, normalize("digits", PHONE)),
        "beacon_softhsm": lambda: keys.beacon("pii-hsm", "phone", BITS, normalize("digits", PHONE)),
        "encrypt": lambda: base64.b64encode(esdk.encrypt(value, field_key)),  # FieldEncryptor's call
    }
    # two keys, two beacons (but for a 1 in 65,536 chance)
    assert contenders["beacon_file"]() != contenders["beacon_softhsm"]()
    wall = alternated(contenders, calls, rounds, time.perf_counter)
    cpu = alternated(contenders, calls, rounds, time.process_time)
    us = {name: round(s * 1e6, 2) for name, s in wall.items()}
    return {
        "calls_per_batch": calls,
        "wall_us": us,
        "cpu_us": {name: round(s * 1e6, 2) for name, s in cpu.items()},
        "file_over_encrypt": round(wall["beacon_file"] / wall["encrypt"], 3),
        "softhsm_over_encrypt": round(wall["beacon_softhsm"] / wall["encrypt"], 3),
        "softhsm_over_file": round(wall["beacon_softhsm"] / wall["beacon_file"], 1),
        "file_over_encrypt_cpu": round(cpu["beacon_file"] / cpu["encrypt"], 3),
        "softhsm_over_encrypt_cpu": round(cpu["beacon_softhsm"] / cpu["encrypt"], 3),
    }


def rewrite_part(configs: dict[str, Path], keys: IndexKeys, calls: int, rounds: int) -> dict[str, Any]:
    limits = Limits()
    contenders: dict[str, Callable[[], object]] = {}
    for name in ("plain", "file", "softhsm"):
        compiled = CompiledConfig(load(configs[name]), index_keys=keys)
        decision = select(compiled.config, FORM_TYPE, [])
        out, count = rewrite_body(decision, FORM, FORM_TYPE, compiled, limits)
        assert count == 1 and (b"phone__bidx=" in out) == (name != "plain"), out[:80]
        contenders[name] = partial(rewrite_body, decision, FORM, FORM_TYPE, compiled, limits)
    cpu = alternated(contenders, calls, rounds, time.process_time)
    per_s = {name: round(1 / s) for name, s in cpu.items()}
    return {
        "requests_per_cpu_s": per_s,
        "cpu_us": {name: round(s * 1e6, 1) for name, s in cpu.items()},
        "file_over_plain": round(per_s["file"] / per_s["plain"], 3),
        "softhsm_over_plain": round(per_s["softhsm"] / per_s["plain"], 3),
    }


def proxy_part(configs: dict[str, Path], keys_file: Path, seconds: float, rounds: int) -> dict[str, Any]:
    """Two `fle proxy` processes (no index / `phone` indexed with the file key), wrk in turn."""
    from benchmarks import wrk
    from benchmarks.servers import cpu_seconds, running

    with tempfile.TemporaryDirectory(prefix="fle-bench-index-wrk-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        plain = servers.fle_proxy(origin, configs["plain"], name="plain")
        indexed = servers.fle_proxy(
            origin, configs["file"], name="indexed", extra=("--index-keys", str(keys_file))
        )
        # the origin answers the length of what it received: the indexed proxy's body is longer by its sidecar
        sizes = {}
        for server in (plain, indexed):
            request = urllib.request.Request(
                server.url + "/submit", data=FORM, headers={"Content-Type": FORM_TYPE}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                sizes[server.name] = response.read().decode()
        assert sizes["indexed"] != sizes["plain"], sizes
        for server in (plain, indexed):  # warm up
            wrk.run(server.url + "/submit", body=FORM, content_type=FORM_TYPE, connections=8, seconds=1)
        cpu: dict[str, list[float]] = {"plain": [], "indexed": []}
        rps: dict[str, list[float]] = {"plain": [], "indexed": []}
        for _ in range(rounds):  # cpu_per_request.interleaved's loop, with every answer checked
            for server in (plain, indexed):
                before = cpu_seconds(server.pids())
                run = wrk.run(server.url + "/submit", body=FORM, content_type=FORM_TYPE, connections=16,
                              seconds=seconds)  # fmt: skip
                assert run.requests > 0 and run.errors == 0, (server.name, run)
                cpu[server.name].append((cpu_seconds(server.pids()) - before) / run.requests * 1e6)
                rps[server.name].append(run.rps)
    cpu_us = {name: round(statistics.median(v), 1) for name, v in cpu.items()}
    med_rps = {name: round(statistics.median(v)) for name, v in rps.items()}
    return {
        "wrk_seconds": seconds,
        "rounds": rounds,
        "origin_received_bytes": sizes,
        "cpu_us_per_request": cpu_us,
        "cpu_runs": {name: [round(x) for x in v] for name, v in cpu.items()},
        "rps": med_rps,
        "cpu_ratio_plain_over_indexed": round(cpu_us["plain"] / cpu_us["indexed"], 3),
        "rps_ratio_indexed_over_plain": round(med_rps["indexed"] / med_rps["plain"], 3),
    }


# --- lookups ------------------------------------------------------------------------------------------


def spellings(n: int) -> tuple[str, str, str]:
    """Three ways to type the n-th number (n < 10**7); `digits` reads each as 1404 + n in 7 digits."""
    a, b = divmod(n, 10_000)
    return f"+1 (404) {a:03d}-{b:04d}", f"1-404-{a:03d}-{b:04d}", f"1 404 {a:03d} {b:04d}"


def edge_fields(compiled: CompiledConfig, body: bytes) -> dict[str, str]:
    out, count = rewrite_body(select(compiled.config, FORM_TYPE, []), body, FORM_TYPE, compiled, Limits())
    assert count == 1
    return dict(parse_qsl(out.decode(), strict_parsing=True))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def lookup_part(
    root: Path, key: rsa.RSAPrivateKey, keys_file: Path, records: int, lookups: int, seed: int
) -> dict[str, Any]:
    from decryptor import handler
    from origin.saving import submission

    distinct = records // REPEAT
    bits = max(p.bits for p in safe_lengths(distinct))  # the fewest candidates, as the e2e test picks
    config_dir = write_configs(root / f"lookup-config-{bits}", key, bits)["file"]
    (root / "keystore").mkdir()
    keystore = write_file_keystore(root / "keystore", key)  # the decryptor's side: match decrypts
    store_url = f"sqlite:///{root / 'store.db'}"
    os.environ.update(
        BENCH_KEY_PASSPHRASE="bench", FLE_KEYSTORE=str(keystore), FLE_STORE=store_url,
        FLE_AUDIT_FILE=str(root / "audit.jsonl"), FLE_CONFIG=str(config_dir),
    )  # fmt: skip
    keys = IndexKeys.load(keys_file)
    compiled = CompiledConfig(load(config_dir), index_keys=keys)
    store = open_store(store_url)
    truth: dict[int, set[str]] = {}
    try:
        started = time.perf_counter()
        for n in range(distinct):
            for typed in spellings(n)[:REPEAT]:
                item = submission(edge_fields(compiled, f"name=user{n}&phone={quote(typed)}".encode()), None)
                await store.put(item)
                truth.setdefault(n, set()).add(item.id)
        store_s = time.perf_counter() - started
        find_ms: list[float] = []
        match_ms: list[float] = []
        counts: list[int] = []
        looked_up: list[tuple[int, set[str]]] = []
        recall = precision = 0
        for n in random.Random(seed).sample(range(distinct), lookups):
            term = edge_fields(compiled, f"phone={quote(spellings(n)[2])}".encode())
            started = time.perf_counter()
            found = await store.find("phone", [term["phone__bidx"]])
            find_ms.append((time.perf_counter() - started) * 1000)
            assert not found.capped
            candidates = set(found.ids)
            looked_up.append((n, candidates))
            counts.append(len(candidates))
            recall += truth[n] <= candidates
            event = {"match": {"field": "phone", "term": term["phone"], "ids": sorted(candidates)}}
            started = time.perf_counter()
            answer = await asyncio.to_thread(handler.lambda_handler, event, None)
            match_ms.append((time.perf_counter() - started) * 1000)
            assert not answer.get("error") and not answer["errors"], answer
            precision += set(answer["ids"]) == truth[n]
        page_ms = await find_page(root, config_dir, keys_file, store, looked_up)
    finally:
        await store.close()
        keys.close()
        handler.reset_cache()
    both = [page + match for page, match in zip(page_ms, match_ms, strict=True)]
    plan = next(p for p in safe_lengths(distinct) if p.bits == bits)
    predicted = REPEAT * plan.candidates_per_lookup
    mean = sum(counts) / len(counts)
    return {
        "records": distinct * REPEAT,
        "distinct_values": distinct,
        "bits": bits,
        "lookups": lookups,
        "store_seconds": round(store_s, 1),
        "recall": recall / lookups,
        "precision_after_match": precision / lookups,
        "mean_candidates": round(mean, 2),
        "predicted_candidates": round(predicted, 2),
        "mean_over_predicted": round(mean / predicted, 3),
        "max_candidates": max(counts),
        "find_ms": {"p50": round(percentile(find_ms, 0.5), 3), "p99": round(percentile(find_ms, 0.99), 3)},
        "match_ms": {"p50": round(percentile(match_ms, 0.5), 2), "p99": round(percentile(match_ms, 0.99), 2)},
        "find_page_ms": {
            "p50": round(percentile(page_ms, 0.5), 2),
            "p99": round(percentile(page_ms, 0.99), 2),
        },
        "find_page_and_match_ms": {
            "p50": round(percentile(both, 0.5), 2),
            "p99": round(percentile(both, 0.99), 2),
        },
    }


async def find_page(
    root: Path, config_dir: Path, keys_file: Path, store: Store, lookups: list[tuple[int, set[str]]]
) -> list[float]:
    """The same lookups through a real `fle proxy` process to the origin's /find page (served here, over the
    same store), as a browser's search would go: milliseconds per round trip. Each answer must list exactly
    the candidates `store.find` gave for the edge's beacon computed in this process."""
    from benchmarks.servers import running
    from origin import build_app
    from testkit.serving import serving

    times: list[float] = []
    with running(root) as servers:
        async with serving(build_app(store)) as origin_url, aiohttp.ClientSession() as session:
            proxy = servers.start(
                "find-proxy", "-m", "fle", "--log-level", "WARNING", "proxy", "--config", str(config_dir),
                "--origin", origin_url, "--listen", "{listen}", "--index-keys", str(keys_file),
                "--admin", "off", "--access-log", "off",
            )  # fmt: skip
            for n, candidates in lookups:
                started = time.perf_counter()
                async with session.post(
                    proxy.url + "/find",
                    data={"phone": spellings(n)[2]},
                    headers={"Accept": "application/json"},
                ) as response:
                    assert response.status == 200, await response.text()
                    found = await response.json()
                times.append((time.perf_counter() - started) * 1000)
                assert set(found["ids"]) == candidates and not found.get("capped"), n
    return times


# --- the report ---------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    """The run's tables, with the command and the machine's load."""
    beacon, rewrite, lookups = result["beacon"], result["rewrite_in_process"], result["lookups"]
    wall, cpu = beacon["wall_us"], beacon["cpu_us"]
    lines = [
        f"`{result['command']}`, {result['when']}, {result['cpus']} CPUs, load average "
        f"{result['load_average_before'][0]} before and {result['load_average_after'][0]} after, "
        f"Python {result['python']}.",
        "",
        f"The beacon's time per field (median of the rounds, {beacon['calls_per_batch']} calls per batch):",
        "",
        "| per field | µs (wall) | µs (CPU) | ratio to the encryption (wall) | ratio (CPU) |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| encryption (suite 0x0178, RSA-2048) | {wall['encrypt']} | {cpu['encrypt']} | 1 | 1 |",
        f"| beacon, file root key | {wall['beacon_file']} | {cpu['beacon_file']} | "
        f"{beacon['file_over_encrypt']} | {beacon['file_over_encrypt_cpu']} |",
        f"| beacon, key in SoftHSM2 | {wall['beacon_softhsm']} | {cpu['beacon_softhsm']} | "
        f"{beacon['softhsm_over_encrypt']} | {beacon['softhsm_over_encrypt_cpu']} |",
        "",
        "The edge rewriting the 3-field form (`phone` protected), in process "
        "(`rewrite_body` on a CompiledConfig):",
        "",
        "| config | CPU µs / request | requests / CPU second | ratio to no index |",
        "| --- | ---: | ---: | ---: |",
        f"| no `Fle:Indexes` | {rewrite['cpu_us']['plain']} | {rewrite['requests_per_cpu_s']['plain']} | 1 |",
        f"| `phone` indexed, file key | {rewrite['cpu_us']['file']} | "
        f"{rewrite['requests_per_cpu_s']['file']} | {rewrite['file_over_plain']} |",
        f"| `phone` indexed, SoftHSM2 key | {rewrite['cpu_us']['softhsm']} | "
        f"{rewrite['requests_per_cpu_s']['softhsm']} | {rewrite['softhsm_over_plain']} |",
    ]
    wrk = result.get("proxy_wrk")
    if wrk:
        lines += [
            "",
            "Through two `fle proxy` processes (one worker each, wrk 16 connections, "
            f"{wrk['rounds']} rounds of {wrk['wrk_seconds']} s taken in turn, medians):",
            "",
            "| proxy | CPU µs / request (runs) | requests/s | ratio to no index (CPU basis) |",
            "| --- | ---: | ---: | ---: |",
            f"| no `Fle:Indexes` | {wrk['cpu_us_per_request']['plain']} "
            f"({', '.join(map(str, wrk['cpu_runs']['plain']))}) | {wrk['rps']['plain']} | 1 |",
            f"| `phone` indexed, file key | {wrk['cpu_us_per_request']['indexed']} "
            f"({', '.join(map(str, wrk['cpu_runs']['indexed']))}) | {wrk['rps']['indexed']} | "
            f"{wrk['cpu_ratio_plain_over_indexed']} |",
        ]
    lines += [
        "",
        f"Lookups: {lookups['records']:,} records ({lookups['distinct_values']:,} values, 2 spellings each) "
        f"in SQLite, file index key, {lookups['bits']}-bit beacons, {lookups['lookups']:,} lookups by a "
        f"third spelling (storing took {lookups['store_seconds']} s):",
        "",
        "| recall | precision after `match` | candidates / lookup (mean, max) | planner's prediction | "
        "mean / prediction | `store.find` p50 / p99 | `match` p50 / p99 | "
        "`/find` through `fle proxy` p50 / p99 | `/find` + `match` p50 / p99 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {lookups['recall']:.0%} | {lookups['precision_after_match']:.0%} | {lookups['mean_candidates']}, "
        f"{lookups['max_candidates']} | {lookups['predicted_candidates']} | "
        f"{lookups['mean_over_predicted']} | "
        f"{lookups['find_ms']['p50']} / {lookups['find_ms']['p99']} ms | "
        f"{lookups['match_ms']['p50']} / {lookups['match_ms']['p99']} ms | "
        f"{lookups['find_page_ms']['p50']} / {lookups['find_page_ms']['p99']} ms | "
        f"{lookups['find_page_and_match_ms']['p50']} / {lookups['find_page_and_match_ms']['p99']} ms |",
    ]
    return "\n".join(lines) + "\n"


def write_docs(tables: str, docs: Path = DOCS) -> None:
    """Replace what lies between the markers in docs/benchmarks.md by `tables`."""
    text = docs.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{docs}: needs one {BEGIN} line and, after it, one {END} line")
    head, rest = text.split(BEGIN)
    docs.write_text(head + BEGIN + "\n" + tables + rest[rest.index(END) :])


# --- the run ------------------------------------------------------------------------------------------


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fle-bench-index-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds per contender")
    parser.add_argument("--calls", type=int, default=2000, help="calls per batch (beacon and rewrite parts)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--wrk-seconds", type=float, default=3.0)
    parser.add_argument("--no-wrk", action="store_true", help="skip the two fle proxy processes under wrk")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmark-results" / "bench-index.json")
    parser.add_argument("--write-docs", action="store_true", help="put the tables into docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.records < 2 * REPEAT * 9 or not 0 < args.lookups <= args.records // REPEAT:
        parser.error("--records must be at least 36 and --lookups between 1 and records / 2")
    needs.require("bench_index", modules=("pkcs11",), programs=() if args.no_wrk else ("wrk",), softhsm=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with workdir() as root:
        file_toml = file_keys(root / "file-keys")  # what the indexed `fle proxy` is given
        keys_file = root / "both-keys.toml"  # the file key and the token's, for the in-process parts
        append_entry(keys_file, IndexKeyEntry("pii-2026", FileKeySettings(file_toml.parent / "root.hex")))
        softhsm_keys(root / "softhsm", keys_file)
        configs = write_configs(root / "config", key, BITS)
        result: dict[str, Any] = {
            "command": " ".join(
                ["python -m benchmarks.bench_index", *(sys.argv[1:] if argv is None else argv)]
            ),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 1) for x in os.getloadavg()],
        }
        with IndexKeys.load(keys_file) as keys:
            result["beacon"] = beacon_part(keys, key, args.calls, args.rounds)
            result["rewrite_in_process"] = rewrite_part(configs, keys, args.calls, args.rounds)
        if not args.no_wrk:
            result["proxy_wrk"] = proxy_part(configs, file_toml, args.wrk_seconds, args.rounds)
        result["lookups"] = asyncio.run(
            lookup_part(root, key, file_toml, args.records, args.lookups, seed=23)
        )
        result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    tables = markdown(result)
    args.out.with_suffix(".md").write_text(tables)
    if args.write_docs:
        write_docs(tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
