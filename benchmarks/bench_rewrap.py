"""`fle rewrap` throughput against the RSA private-key operation it cannot avoid.

Re-wrapping one value costs one unwrap with the old private key (an RSA-2048 private operation), a
header check (HKDF + AES-GCM over the header) and one wrap with the new public key. Measured in one run,
alternating rounds so a busy machine slows both alike:
- raw: RSA-2048 OAEP-SHA256 decrypt of a 32-byte data key with `cryptography`, one thread;
- message: `decryptor.rewrap.rewrap` of one proxy-written message, the old key in the file backend;
- store: a whole `Rewrapper.run` over N SQLite items (plan scan, batched reads, conditional writes,
  audit lines to a file), with one worker thread so it compares with the one-thread raw rate.
The ratios (per-value time / raw time) say how much of a re-wrap is the unavoidable RSA operation.

    python3 -m benchmarks.bench_rewrap [--values 300] [--items 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import AuditLog, Caller
from decryptor.rewrap import KeyRef, rewrap
from decryptor.rewrap_store import Rewrapper, new_key_for
from edge_proxy import esdk
from keystore import DEFAULT_WRAPPING, Keystore
from store import SqliteStore, Submission

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


def message(key: rsa.RSAPrivateKey) -> bytes:
    field_key = esdk.FieldKey(key.public_key(), OLD.provider_id.encode(), OLD.key_name.encode())
    return esdk.encrypt(b"404-555-0150", field_key)


def per_value(fn, count: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count


async def store_run(
    keystore: Keystore, directory: Path, old_key: rsa.RSAPrivateKey, items: int, n: int
) -> float:
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
    args = parser.parse_args()
    os.environ["BENCH_KEY_PASSPHRASE"] = "bench"
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

        raw, msg, stored = [], [], []
        for n in range(args.rounds):
            raw.append(per_value(lambda: old_key.decrypt(wrapped, DEFAULT_WRAPPING.padding()), args.values))
            msg.append(per_value(lambda: rewrap(sample, OLD, new, unwrap), args.values))
            stored.append(asyncio.run(store_run(keystore, directory, old_key, args.items, n)))
        keystore.close()
    best_raw, best_msg, best_store = min(raw), min(msg), min(stored)
    print(f"raw RSA-2048 private op:     {best_raw * 1e3:.3f} ms  ({1 / best_raw:,.0f} ops/s)")
    print(f"rewrap one message:          {best_msg * 1e3:.3f} ms  ratio {best_msg / best_raw:.2f}")
    print(f"Rewrapper over SQLite items: {best_store * 1e3:.3f} ms/item  ratio {best_store / best_raw:.2f}")
    print(
        f"(best of {args.rounds} rounds; medians {statistics.median(msg) / statistics.median(raw):.2f}"
        f" and {statistics.median(stored) / statistics.median(raw):.2f})"
    )


if __name__ == "__main__":
    main()
