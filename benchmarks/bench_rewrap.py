"""`fle rewrap` throughput against the RSA private-key operation it cannot avoid.

Re-wrapping one value costs one unwrap with the old private key (an RSA-2048 private operation), a
header check (HKDF + AES-GCM over the header) and one wrap with the new public key. Measured in one run,
alternating rounds so a busy machine slows both alike:
- raw: RSA-2048 OAEP-SHA256 decrypt of a 32-byte data key with `cryptography`, one thread;
- message: `decryptor.rewrap.rewrap` of one proxy-written message, the old key in the file backend;
- store: a whole `Rewrapper.run` over N SQLite items (plan scan, batched reads, conditional writes,
  audit lines to a file), with one worker thread so it compares with the one-thread raw rate.
The ratios (per-value time / raw time) say how much of a re-wrap is the unavoidable RSA operation.

Scaling over cores (issue 17): `--processes 1,2` also times, in every round and side by side, a whole
`Rewrapper.run` over N items (plan scan, worker start, re-wrapping, conditional writes, audit; `--workers`
threads in all, split over the processes as `fle rewrap` does) for each process count, and "1core": one
process with every thread pinned to one CPU (sched_setaffinity, the "one core" of the target), for two
keystores: the old key in the file backend, and in a SoftHSM2 token (key generated inside it,
`sessions = S` per process). Items/s per contender and each count's ratio to 1core and to 1 process.
`--dry-run` makes those runs `fle rewrap --dry-run` (everything but the store writes), which shows how
far the re-wrapping itself scales when the parent's serial writes (one SQLite transaction per item,
synced) do not bound it.

    python3 -m benchmarks.bench_rewrap [--values 300] [--items 300] [--rounds 3]
        [--processes 1,2] [--workers 4] [--sessions 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks.bench_keystore import SOFTHSM, softhsm_backend, start_softhsm
from decryptor.rewrap import KeyRef, rewrap
from keystore import DEFAULT_WRAPPING, Keystore
from store import SqliteStore, Submission

# Spawned worker processes import the main module again; `python -m fle rewrap` does not make them
# (a `.__main__` module is skipped), so this one imports aws-encryption-sdk and aiohttp (under
# decryptor.rewrap_store and edge_proxy) only inside functions, to start workers as `fle rewrap` does.

OLD = KeyRef("FLEDemo", "OldKey")
NEW = KeyRef("FLEDemo", "NewKey")


def write_keystore(directory: Path, keys: dict[str, rsa.RSAPrivateKey]) -> Path:
    toml = directory / "keystore.toml"
    lines = []
    for name, key in keys.items():
        pem = directory / f"{name}.pem"
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"bench"),
            )
        )
        pem.chmod(0o600)
        lines.append(
            f'[[key]]\nprovider_id = "FLEDemo"\nkey_name = "{name}"\nbackend = "file"\n'
            f'path = "{pem.name}"\npassphrase_env = "BENCH_KEY_PASSPHRASE"\n'
        )
    toml.write_text("\n".join(lines))
    return toml


def message(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    from edge_proxy.encrypting import esdk

    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    field_key = esdk.FieldKey(public, OLD.provider_id.encode(), OLD.key_name.encode())
    return esdk.encrypt(b"404-555-0150", field_key)


def pkcs11_keystore(directory: Path, new_key: rsa.RSAPrivateKey, sessions: int) -> Path:
    """The old key in the SoftHSM token `bench` (BenchKey, made inside it), the new key in a file."""
    directory.mkdir()
    toml = write_keystore(directory, {"NewKey": new_key})
    with toml.open("a") as out:
        out.write(
            f'\n[[key]]\nprovider_id = "FLEDemo"\nkey_name = "OldKey"\nbackend = "pkcs11"\n'
            f'module = "{SOFTHSM}"\ntoken_label = "bench"\nkey_label = "BenchKey"\n'
            f'pin_env = "BENCH_PKCS11_PIN"\nsessions = {sessions}\n'
        )
    return toml


async def fill(path: Path, public: rsa.RSAPublicKey, items: int) -> None:
    store = SqliteStore(path)
    for _ in range(items):
        phone = base64.b64encode(message(public)).decode()
        await store.put(Submission(fields={"name": "Jane", "phone": phone}))
    await store.close()


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the pool's workers, once closed)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def scaled_run(
    keystore_path: Path, db: Path, items: int, processes: int, workers: int, dry_run: bool, batch: int = 50
) -> tuple[float, float, float]:
    """Items/s of a whole Rewrapper.run over a fresh copy of the store, as `fle rewrap` does it, and the
    seconds the worker processes took to start (0 for one process), and the cores used: CPU seconds of this
    process and its workers (their start included) over the wall-clock seconds of the whole call."""
    from decryptor import AuditLog, Caller
    from decryptor.rewrap_store import Rewrapper, new_key_for

    cpu, wall = cpu_seconds(), time.monotonic()
    keystore = Keystore.from_file(keystore_path)
    store = SqliteStore(db)
    audit = AuditLog(str(db.with_suffix(".jsonl")))
    rewrapper = Rewrapper(
        keystore, store, OLD, new_key_for(keystore, NEW), audit, Caller("bench"),
        workers=workers, processes=processes, keystore_path=str(keystore_path), dry_run=dry_run, batch=batch,
    )  # fmt: skip
    try:
        report = await rewrapper.run()
    finally:
        rewrapper.close()
        audit.close()
        keystore.close()
        await store.close()
    assert report.ok and report.rewrapped_fields == items, report
    assert len(rewrapper.pids) == processes and (processes == 1) == (rewrapper.pids == {os.getpid()})
    cores = (cpu_seconds() - cpu) / (time.monotonic() - wall)
    return items / report.seconds, rewrapper.start_seconds or 0.0, cores


def on_one_core(work: Callable[[], float]) -> float:
    """`work` with every thread of this process pinned to one CPU (threads it starts inherit the pin)."""
    cpus = os.sched_getaffinity(0)
    for tid in [int(t) for t in os.listdir("/proc/self/task")]:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, {min(cpus)})
    try:
        return work()
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(tid, cpus)


def per_value(fn, count: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count


async def store_run(
    keystore: Keystore, directory: Path, old_key: rsa.RSAPrivateKey, items: int, n: int
) -> float:
    from decryptor import AuditLog, Caller
    from decryptor.rewrap_store import Rewrapper, new_key_for

    store = SqliteStore(directory / f"store-{n}.db")
    for _ in range(items):
        await store.put(
            Submission(fields={"name": "Jane", "phone": base64.b64encode(message(old_key)).decode()})
        )
    audit = AuditLog(str(directory / "audit.jsonl"))
    rewrapper = Rewrapper(keystore, store, OLD, new_key_for(keystore, NEW), audit, Caller("bench"), workers=1)
    try:
        report = await rewrapper.run()
    finally:
        rewrapper.close()
        audit.close()
        await store.close()
    assert report.ok and report.rewrapped_fields == items
    return report.seconds / items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=300)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", default="1", help="process counts to compare, e.g. 1,2")
    parser.add_argument("--workers", type=int, default=4, help="threads in all for the scaling runs")
    parser.add_argument("--sessions", type=int, default=2, help="pkcs11 sessions per process")
    parser.add_argument("--batch", type=int, default=50, help="items read (and written) per chunk")
    parser.add_argument(
        "--dry-run", action="store_true", help="scaling runs as `fle rewrap --dry-run`: no store writes"
    )
    args = parser.parse_args()
    from decryptor.config import MIN_PROCESS_BATCH
    from decryptor.rewrap_store import new_key_for

    counts = [int(n) for n in args.processes.split(",")]
    if len(counts) > 1 and args.items < MIN_PROCESS_BATCH:
        raise SystemExit(f"--items must be at least {MIN_PROCESS_BATCH} for more than one process")
    os.environ.update(BENCH_KEY_PASSPHRASE="bench", BENCH_PKCS11_PIN="1234")
    load_before = os.getloadavg()
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        keystore = Keystore.from_file(write_keystore(directory, {"OldKey": old_key, "NewKey": new_key}))
        backend = keystore.backend(OLD.provider_id, OLD.key_name)
        new = new_key_for(keystore, NEW)
        sample = message(old_key)
        wrapped = old_key.public_key().encrypt(os.urandom(32), DEFAULT_WRAPPING.padding())

        def unwrap(blob: bytes) -> bytes:
            return backend.unwrap(blob, DEFAULT_WRAPPING)

        templates: dict[str, tuple[Path, Path]] = {}  # backend -> (keystore, filled store to copy)
        if len(counts) > 1:
            start_softhsm(directory)  # token "bench", key "BenchKey" generated inside it
            probe = softhsm_backend(directory, 1)
            token_public = probe.public_key()
            probe.close()
            for name, toml, public in (
                ("file", directory / "keystore.toml", old_key.public_key()),
                ("pkcs11", pkcs11_keystore(directory / "p11", new_key, args.sessions), token_public),
            ):
                asyncio.run(fill(directory / f"{name}-template.db", public, args.items))
                templates[name] = (toml, directory / f"{name}-template.db")

        starts: list[float] = []
        cores: dict[str, list[float]] = {}

        def scaled(name: str, processes: int, label: str = "") -> float:
            toml, template = templates[name]
            db = directory / f"{name}-run.db"
            shutil.copy(template, db)
            try:
                rate, start, used = asyncio.run(
                    scaled_run(toml, db, args.items, processes, args.workers, args.dry_run, args.batch)
                )
            finally:
                db.unlink()
            if processes > 1:
                starts.append(start)
            cores.setdefault(f"{name}@{label or processes}", []).append(used)
            return rate

        raw, msg, stored = [], [], []
        scaling: dict[str, list[float]] = {f"{b}@{c}": [] for b in templates for c in [*counts, "1core"]}
        for n in range(args.rounds):
            raw.append(per_value(lambda: old_key.decrypt(wrapped, DEFAULT_WRAPPING.padding()), args.values))
            msg.append(per_value(lambda: rewrap(sample, OLD, new, unwrap), args.values))
            stored.append(asyncio.run(store_run(keystore, directory, old_key, args.items, n)))
            for name in templates:
                scaling[f"{name}@1core"].append(on_one_core(lambda: scaled(name, 1, "1core")))  # noqa: B023
                for count in counts:
                    scaling[f"{name}@{count}"].append(scaled(name, count))
            if templates:
                print(f"round {n + 1}, items/s: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in scaling.items()))
        keystore.close()
    best_raw, best_msg, best_store = min(raw), min(msg), min(stored)
    print(f"raw RSA-2048 private op:     {best_raw * 1e3:.3f} ms  ({1 / best_raw:,.0f} ops/s)")
    print(f"rewrap one message:          {best_msg * 1e3:.3f} ms  ratio {best_msg / best_raw:.2f}")
    print(f"Rewrapper over SQLite items: {best_store * 1e3:.3f} ms/item  ratio {best_store / best_raw:.2f}")
    print(
        f"(best of {args.rounds} rounds; medians {statistics.median(msg) / statistics.median(raw):.2f}"
        f" and {statistics.median(stored) / statistics.median(raw):.2f})"
    )
    for name in templates:
        m = {c: statistics.median(scaling[f"{name}@{c}"]) for c in ["1core", *counts]}
        line = f"{name:6} items/s (median): " + ", ".join(f"{c} {v:.0f}" for c, v in m.items())
        first = counts[0]
        ratios = [f"{c}/1core {m[c] / m['1core']:.2f}, {c}/{first} {m[c] / m[first]:.2f}" for c in counts[1:]]
        print(line + "; " + "; ".join(ratios))
        used = {c: statistics.median(cores[f"{name}@{c}"]) for c in ["1core", *counts]}
        shown = ", ".join(f"{c} {v:.2f}" for c, v in used.items())
        print(f"{name:6} cores used (median, CPU s / wall s): {shown}")
    if templates:
        print(
            f"{args.items} items{' (dry run)' if args.dry_run else ''}, batch {args.batch}, "
            f"{args.workers} threads in all, "
            f"{args.sessions} pkcs11 sessions a process; workers started in {min(starts):.2f} to "
            f"{max(starts):.2f} s (inside the runs' times); "
            f"load average before {', '.join(f'{x:.1f}' for x in load_before)}, "
            f"after {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )


if __name__ == "__main__":
    main()
