"""Decryptor throughput: `{"recent": N}` items/s through lambda_handler vs the raw RSA-2048 private-op rate.

Both are measured in the same run, alternating rounds so a busy machine slows both alike:
- raw: RSA-2048 OAEP-SHA256 decrypt of a 32-byte data key with `cryptography`, on a thread pool of the
  same size as the decryptor's, i.e. what this machine's cores can do in private-key operations;
- decrypt: lambda_handler({"recent": N}) with the file backend and a SQLite store holding N form
  submissions (name, email in clear, phone encrypted as the edge proxy writes it), audit lines to a file.
Each item needs exactly one private-key operation, so items/s divided by raw ops/s is the share of the
hardware's RSA capacity the decryptor turns into decrypted items (the goal is >= 0.8). CPU time per item
against CPU time per raw operation (`cpu_ratio`) is the same share measured in CPU seconds, which holds
steadier than wall-clock rates when other work shares the machine. `sdk_only` is stock
aws-encryption-sdk decrypting with its own RawMasterKey and nothing of ours: the ceiling the SDK sets.

    python3 -m benchmarks.bench_decrypt [--items 1000] [--rounds 3] [--workers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from edge_proxy import esdk
from keystore import DEFAULT_WRAPPING
from store import SqliteStore, Submission


def write_keystore(directory: Path, key: rsa.RSAPrivateKey) -> Path:
    pem = directory / "demo.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"bench"),
        )
    )
    pem.chmod(0o600)
    toml = directory / "keystore.toml"
    toml.write_text(
        '[[key]]\nprovider_id = "FLEDemo"\nkey_name = "DemoPublicKey"\nbackend = "file"\n'
        'path = "demo.pem"\npassphrase_env = "BENCH_KEY_PASSPHRASE"\n'
    )
    return toml


async def fill_store(path: Path, key: rsa.RSAPrivateKey, items: int) -> None:
    field_key = esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey")
    store = SqliteStore(path)
    for i in range(items):
        phone = esdk.encrypt(f"404-555-{i:04d}".encode(), field_key)
        await store.put(
            Submission(
                fields={
                    "name": f"Person {i}",
                    "email": f"p{i}@example.org",
                    "phone": base64.b64encode(phone).decode(),
                }
            )
        )
    await store.close()


def raw_rate(key: rsa.RSAPrivateKey, pool: ThreadPoolExecutor, ops: int) -> tuple[float, float]:
    """RSA-2048 OAEP-SHA256 private-key decrypts per second on `pool`, and CPU seconds per operation."""
    wrapped = key.public_key().encrypt(os.urandom(32), DEFAULT_WRAPPING.padding())
    padding = DEFAULT_WRAPPING.padding()
    cpu, start = time.process_time(), time.perf_counter()
    list(pool.map(lambda _: key.decrypt(wrapped, padding), range(ops)))
    return ops / (time.perf_counter() - start), (time.process_time() - cpu) / ops


def sdk_rate(key: rsa.RSAPrivateKey, pool: ThreadPoolExecutor, ops: int) -> tuple[float, float]:
    """Stock aws-encryption-sdk with its own raw RSA master key, no decryptor around it: the ceiling the SDK
    itself sets (messages/s on `pool`, CPU seconds per message)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    master_key = RawMasterKey(
        provider_id="FLEDemo",
        key_id=b"DemoPublicKey",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
            wrapping_key=pem,
            wrapping_key_type=EncryptionKeyType.PRIVATE,
        ),
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    message = esdk.encrypt(b"404-555-0150", esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey"))
    cpu, start = time.process_time(), time.perf_counter()
    list(pool.map(lambda _: client.decrypt(source=message, key_provider=master_key), range(ops)))
    return ops / (time.perf_counter() - start), (time.process_time() - cpu) / ops


def decrypt_rate(items: int) -> tuple[float, float]:
    """Items per second through lambda_handler({"recent": items}), and CPU seconds per item."""
    cpu, start = time.process_time(), time.perf_counter()
    answer = handler.lambda_handler({"recent": items}, None)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    decrypted = sum(
        1 for item in answer["items"] if not item["errors"] and item["fields"]["phone"][:4] == "404-"
    )
    if decrypted != items:
        raise SystemExit(f"only {decrypted} of {items} items decrypted: {answer['items'][:1]}")
    return items / elapsed, cpu / items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="decryptor threads and raw-RSA threads")
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        os.environ.update(
            BENCH_KEY_PASSPHRASE="bench",
            FLE_KEYSTORE=str(write_keystore(directory, key)),
            FLE_STORE=f"sqlite:///{directory / 'store.db'}",
            FLE_AUDIT_FILE=str(directory / "audit.jsonl"),
            FLE_DECRYPT_WORKERS=str(args.workers),
        )
        asyncio.run(fill_store(directory / "store.db", key, args.items))
        handler.lambda_handler({"recent": 1}, None)  # warm: keystore opened, pool started, as a warm Lambda
        raw_single, raw_pool, items, raw_cpu, item_cpu, sdk, sdk_cpu = [], [], [], [], [], [], []
        with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(args.workers) as pool:
            for _ in range(args.rounds):
                raw_single.append(raw_rate(key, one, args.items // 2)[0])
                rate, cpu = raw_rate(key, pool, args.items)
                raw_pool.append(rate)
                raw_cpu.append(cpu)
                rate, cpu = sdk_rate(key, pool, args.items)
                sdk.append(rate)
                sdk_cpu.append(cpu)
                rate, cpu = decrypt_rate(args.items)
                items.append(rate)
                item_cpu.append(cpu)
        audit_lines = len((directory / "audit.jsonl").read_text().splitlines())
    result = {
        "items": args.items,
        "rounds": args.rounds,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "raw_rsa_ops_per_s_1_thread": round(statistics.median(raw_single)),
        "raw_rsa_ops_per_s_pool": round(statistics.median(raw_pool)),
        "recent_items_per_s": round(statistics.median(items)),
        "ratio_vs_pool": round(statistics.median(items) / statistics.median(raw_pool), 2),
        "ratio_vs_1_thread": round(statistics.median(items) / statistics.median(raw_single), 2),
        "cpu_ms_per_rsa_op": round(statistics.median(raw_cpu) * 1e3, 3),
        "cpu_ms_per_item": round(statistics.median(item_cpu) * 1e3, 3),
        "cpu_ratio": round(statistics.median(raw_cpu) / statistics.median(item_cpu), 2),
        "sdk_only_msgs_per_s_pool": round(statistics.median(sdk)),
        "cpu_ms_per_sdk_only_msg": round(statistics.median(sdk_cpu) * 1e3, 3),
        "sdk_only_cpu_ratio": round(statistics.median(raw_cpu) / statistics.median(sdk_cpu), 2),
        "audit_lines": audit_lines,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
