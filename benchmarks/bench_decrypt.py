"""Decryptor throughput: `{"recent": N}` items/s through lambda_handler, per keystore backend, each against
the rate of the private-key operation underneath it, measured in the same run.

Every backend decrypts N form submissions from its own SQLite store (name, email in clear, phone encrypted
as the edge proxy writes it), warm (keystore opened, pool started, as in a warm Lambda container), with
audit lines going to a file. Rounds alternate all measurements, so a busy machine slows them alike.

- file: against raw RSA-2048 OAEP-SHA256 private-key decrypts with `cryptography` on a thread pool of the
  decryptor's size (what the cores do in private-key operations). `sdk_only` is stock aws-encryption-sdk
  decrypting with its own RawMasterKey, nothing of ours: the ceiling the SDK sets.
- pkcs11: a SoftHSM2 token (key generated inside it), a keystore entry with `sessions = S`, against the
  token's own raw RSA rate (CKM_RSA_X_509 on S sessions, one thread each, straight through python-pkcs11:
  the token's work per unwrap, without our pool or the host-side OAEP decoding).
- ssm: Parameter Store on a moto server, key cached after the first read; for information (the unwrap is
  the same in-process RSA operation as the file backend's).

Each item needs exactly one private-key operation, so items/s divided by reference ops/s is the share of
the reference rate turned into decrypted items (the goal is >= 0.8 for file and pkcs11). CPU time per
reference op divided by CPU time per item (`cpu_ratio`) is the same share in CPU seconds, steadier than
wall-clock rates when other work shares the machine (SoftHSM runs in this process, so it counts too).

Scaling over cores (issue 17): `--processes 1,2` measures file and pkcs11 once per process count in every
round (FLE_DECRYPT_PROCESSES; each worker process opens its own keystore, so its own `sessions` PKCS#11
sessions) and reports items/s for each and the ratio of each count to 1 process; and, as "1core", one
process with every thread pinned to one CPU (issue 17's "one core"), with each count's ratio to it.
cpu_ms figures count this process only, so for more than one process read the items/s.

    python3 -m benchmarks.bench_decrypt [--items 1000] [--rounds 3] [--workers 8] [--sessions 2]
        [--processes 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks import needs
from benchmarks.bench_keystore import SOFTHSM, softhsm_backend, start_moto, start_softhsm
from decryptor import handler
from decryptor.config import MIN_PROCESS_BATCH
from edge_proxy.encrypting import esdk
from keystore import DEFAULT_WRAPPING
from store import SqliteStore, Submission

Rate = tuple[float, float]  # (operations per second, CPU seconds per operation)


def write_file_keystore(directory: Path, key: rsa.RSAPrivateKey) -> Path:
    pem = directory / "demo.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"bench"),
        )
    )
    pem.chmod(0o600)
    return write_keystore(directory / "file.toml", 'backend = "file"\npath = "demo.pem"\n'
                          'passphrase_env = "BENCH_KEY_PASSPHRASE"\n')  # fmt: skip


def write_keystore(path: Path, settings: str) -> Path:
    path.write_text(f'[[key]]\nprovider_id = "FLEDemo"\nkey_name = "DemoPublicKey"\n{settings}')
    return path


async def fill_store(path: Path, public: rsa.RSAPublicKey, items: int) -> None:
    field_key = esdk.FieldKey(public, b"FLEDemo", b"DemoPublicKey")
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


def timed(work: Callable[[], object], ops: int) -> Rate:
    cpu, start = time.process_time(), time.perf_counter()
    work()
    return ops / (time.perf_counter() - start), (time.process_time() - cpu) / ops


def raw_rate(key: rsa.RSAPrivateKey, pool: ThreadPoolExecutor, ops: int) -> Rate:
    """RSA-2048 OAEP-SHA256 private-key decrypts on `pool`."""
    wrapped = key.public_key().encrypt(os.urandom(32), DEFAULT_WRAPPING.padding())
    padding = DEFAULT_WRAPPING.padding()
    return timed(lambda: list(pool.map(lambda _: key.decrypt(wrapped, padding), range(ops))), ops)


def sdk_rate(key: rsa.RSAPrivateKey, pool: ThreadPoolExecutor, ops: int) -> Rate:
    """Stock aws-encryption-sdk with its own raw RSA master key, no decryptor around it."""
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
    return timed(
        lambda: list(pool.map(lambda _: client.decrypt(source=message, key_provider=master_key), range(ops))),
        ops,
    )


class TokenRaw:
    """The token's own rate: CKM_RSA_X_509 decrypts on `sessions` sessions, one thread each."""

    def __init__(self, token_label: str, key_label: str, pin: str, sessions: int) -> None:
        from pkcs11 import Attribute, ObjectClass
        from pkcs11 import exceptions as p11e

        from keystore.pkcs11_library import Module

        token = Module.get(SOFTHSM).lib.get_token(token_label=token_label)  # initialised for threads
        try:
            self._login = token.open(user_pin=pin)
        except p11e.UserAlreadyLoggedIn:
            self._login = token.open()
        self._sessions = [token.open() for _ in range(sessions)]
        find = {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label}
        self._keys = [next(iter(s.get_objects(find))) for s in self._sessions]
        self._pool = ThreadPoolExecutor(sessions)

    def rate(self, public: rsa.RSAPublicKey, ops: int) -> Rate:
        from pkcs11 import Mechanism

        wrapped = public.encrypt(os.urandom(32), DEFAULT_WRAPPING.padding())
        share = -(-ops // len(self._keys))

        def work(key: Any) -> None:
            for _ in range(share):
                key.decrypt(wrapped, mechanism=Mechanism.RSA_X_509)

        return timed(lambda: list(self._pool.map(work, self._keys)), share * len(self._keys))

    def close(self) -> None:
        self._pool.shutdown()
        for session in [*self._sessions, self._login]:
            session.close()


def decrypt_rate(env: dict[str, str], items: int) -> Rate:
    """lambda_handler({"recent": items}) with the keystore and store in `env`; every item must decrypt."""
    os.environ.update(env)
    answer: dict[str, Any] = {}

    def work() -> None:
        answer.update(handler.lambda_handler({"recent": items}, None))

    rate = timed(work, items)
    decrypted = sum(
        1 for item in answer["items"] if not item["errors"] and item["fields"]["phone"][:4] == "404-"
    )
    if decrypted != items:
        raise SystemExit(f"only {decrypted} of {items} items decrypted: {answer['items'][:1]}")
    return rate


def pinned_rate(env: dict[str, str], items: int) -> Rate:
    """decrypt_rate on one core: every thread of this process pinned to one CPU (one process, threads),
    the "one core" of issue 17's target; the affinity is restored after."""
    cpus = os.sched_getaffinity(0)
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    for tid in tids:
        os.sched_setaffinity(tid, {min(cpus)})
    try:
        return decrypt_rate({**env, "FLE_DECRYPT_PROCESSES": "1"}, items)
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(tid, cpus)


def median(rates: list[Rate]) -> Rate:
    return statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)


def summary(items: Rate, reference: Rate, reference_name: str) -> dict[str, float]:
    return {
        "items_per_s": round(items[0]),
        f"{reference_name}_per_s": round(reference[0]),
        "ratio": round(items[0] / reference[0], 2),
        "cpu_ms_per_item": round(items[1] * 1e3, 3),
        f"cpu_ms_per_{reference_name}": round(reference[1] * 1e3, 3),
        "cpu_ratio": round(reference[1] / items[1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="decryptor threads and raw-RSA threads")
    parser.add_argument("--sessions", type=int, default=2, help="pkcs11 sessions (and raw token threads)")
    parser.add_argument(
        "--processes", default="1", help="decryptor processes, comma-separated counts to compare (1,2)"
    )
    args = parser.parse_args()
    needs.require_keystore_backends("bench_decrypt")  # before any waiting
    counts = [int(n) for n in args.processes.split(",")]
    if args.items < MIN_PROCESS_BATCH and max(counts) > 1:
        raise SystemExit(f"--items must be at least {MIN_PROCESS_BATCH} for more than one process")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory(prefix="fle-bench-") as tmp:
        root = Path(tmp)
        os.environ.update(
            BENCH_KEY_PASSPHRASE="bench",
            BENCH_PKCS11_PIN="1234",
            FLE_AUDIT_FILE=str(root / "audit.jsonl"),
            FLE_DECRYPT_WORKERS=str(args.workers),
            FLE_DECRYPT_PROCESSES=str(counts[0]),
        )
        start_softhsm(root)  # token "bench", key "BenchKey" generated inside it
        probe = softhsm_backend(root, 1)
        token_public = probe.public_key()
        probe.close()
        moto = start_moto()
        try:
            import boto3

            from keystore.tooling import store_ssm_key

            kms_key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
            ssm_public = store_ssm_key("/bench/private-key", kms_key, None)
            backends = {
                "file": (write_file_keystore(root, key), key.public_key()),
                "pkcs11": (
                    write_keystore(
                        root / "pkcs11.toml",
                        f'backend = "pkcs11"\nmodule = "{SOFTHSM}"\ntoken_label = "bench"\n'
                        f'key_label = "BenchKey"\npin_env = "BENCH_PKCS11_PIN"\nsessions = {args.sessions}\n',
                    ),
                    token_public,
                ),
                "ssm": (
                    write_keystore(root / "ssm.toml", 'backend = "ssm"\nparameter = "/bench/private-key"\n'),
                    ssm_public,
                ),
            }
            envs = {}
            for name, (keystore, public) in backends.items():
                store = root / f"{name}.db"
                asyncio.run(fill_store(store, public, args.items))
                envs[name] = {"FLE_KEYSTORE": str(keystore), "FLE_STORE": f"sqlite:///{store}"}
                for count in counts:  # warm: keystore opened, pools started, as a warm Lambda
                    decrypt_rate({**envs[name], "FLE_DECRYPT_PROCESSES": str(count)}, MIN_PROCESS_BATCH)
            token = TokenRaw("bench", "BenchKey", "1234", args.sessions)
            runs: dict[str, list[Rate]] = {n: [] for n in ("raw", "sdk", "token", "file", "pkcs11", "ssm")}
            runs.update({f"{n}@{c}": [] for n in ("file", "pkcs11") for c in [*counts, "1core"]})
            first = {"FLE_DECRYPT_PROCESSES": str(counts[0])}
            with ThreadPoolExecutor(args.workers) as pool:
                for _ in range(args.rounds):
                    runs["raw"].append(raw_rate(key, pool, args.items))
                    runs["sdk"].append(sdk_rate(key, pool, args.items))
                    for count in counts:
                        env = {**envs["file"], "FLE_DECRYPT_PROCESSES": str(count)}
                        runs[f"file@{count}"].append(decrypt_rate(env, args.items))
                    if len(counts) > 1:
                        runs["file@1core"].append(pinned_rate(envs["file"], args.items))
                    runs["token"].append(token.rate(token_public, args.items))
                    for count in counts:
                        env = {**envs["pkcs11"], "FLE_DECRYPT_PROCESSES": str(count)}
                        runs[f"pkcs11@{count}"].append(decrypt_rate(env, args.items))
                    if len(counts) > 1:
                        runs["pkcs11@1core"].append(pinned_rate(envs["pkcs11"], args.items))
                    runs["ssm"].append(decrypt_rate({**envs["ssm"], **first}, args.items))
                runs["file"], runs["pkcs11"] = runs[f"file@{counts[0]}"], runs[f"pkcs11@{counts[0]}"]
            token.close()
            handler.reset_cache()
        finally:
            moto.terminate()
            moto.wait(timeout=10)
        audit_lines = len((root / "audit.jsonl").read_text().splitlines())
    m = {name: median(rates) for name, rates in runs.items()}
    result = {
        "items": args.items,
        "rounds": args.rounds,
        "workers": args.workers,
        "pkcs11_sessions": args.sessions,
        "processes": counts[0],
        "cpus": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "file": summary(m["file"], m["raw"], "rsa_op"),
        "sdk_only": summary(m["sdk"], m["raw"], "rsa_op"),
        "pkcs11": summary(m["pkcs11"], m["token"], "token_op"),
        "ssm_cached": summary(m["ssm"], m["raw"], "rsa_op"),
        "audit_lines": audit_lines,
    }
    if len(counts) > 1:  # items/s per process count, and each count's ratio to the first
        result["scaling"] = {
            name: {
                **{f"items_per_s@{c}": round(m[f"{name}@{c}"][0]) for c in counts},
                "items_per_s@1core": round(m[f"{name}@1core"][0]),
                **{
                    f"ratio_{c}_to_1core": round(m[f"{name}@{c}"][0] / m[f"{name}@1core"][0], 2)
                    for c in counts[1:]
                },
                **{
                    f"ratio_{c}_to_{counts[0]}": round(m[f"{name}@{c}"][0] / m[f"{name}@{counts[0]}"][0], 2)
                    for c in counts[1:]
                },
            }
            for name in ("file", "pkcs11")
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
