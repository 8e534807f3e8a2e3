"""Unwraps per second per keystore backend, as ratios to the raw RSA-2048 private operation, in one run.

    python3 benchmarks/bench_keystore.py [--seconds 2] [--sessions 2,4]

Starts its own throwaway SoftHSM2 token (key generated inside it, as `fle keys create` does) and a moto
server on loopback for Parameter Store; every measurement is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import needs
from keystore import KeyBackend, Wrapping
from keystore.file_backend import FileBackend
from keystore.settings import FileSettings, SsmSettings
from keystore.tooling import create_file_key, create_pkcs11_key, store_ssm_key

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
OAEP = Wrapping.RSA_OAEP_SHA256_MGF1


def rate(unwrap: Callable[[bytes], bytes], ciphertext: bytes, threads: int, seconds: float) -> float:
    """Unwraps per second with `threads` threads calling `unwrap` until `seconds` have passed."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            unwrap(ciphertext)
            n += 1
        counts[i] = n

    start = time.monotonic()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def softhsm_backend(root: Path, sessions: int) -> KeyBackend:
    from keystore.pkcs11_backend import Pkcs11Backend
    from keystore.settings import Pkcs11Settings

    settings = Pkcs11Settings(SOFTHSM, ("bench",), None, "BenchKey", None, "BENCH_PIN", sessions)
    return Pkcs11Backend(settings, "1234", probe=OAEP)


def start_softhsm(root: Path) -> None:
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "1234",
            "--so-pin",
            "12345678",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    create_pkcs11_key(SOFTHSM, "bench", "1234", "BenchKey", 2048)


def start_moto() -> subprocess.Popen[bytes]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:  # it exited: no use waiting out the deadline
                raise SystemExit(f"moto server exited at start (status {process.returncode})") from None
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("moto server did not start") from None
            time.sleep(0.1)
    for name, value in {
        "AWS_ENDPOINT_URL_SSM": url,
        "AWS_ENDPOINT_URL_KMS": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument(
        "--sessions", default="2,4", help="pkcs11 session counts besides 1 (threads = sessions)"
    )
    args = parser.parse_args()
    needs.require_keystore_backends("bench_keystore")
    many = [int(n) for n in args.sessions.split(",") if n]

    import boto3

    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="fle-bench-") as tmp:
        root = Path(tmp)
        start_softhsm(root)
        moto = start_moto()
        try:
            raw_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ct = raw_key.public_key().encrypt(b"k" * 32, OAEP.padding())
            rows.append(("raw RSA-2048 private op (cryptography), 1 thread", rate(
                lambda c: raw_key.decrypt(c, OAEP.padding()), ct, 1, args.seconds
            )))  # fmt: skip
            rows.append(("raw RSA-2048 private op (cryptography), 2 threads", rate(
                lambda c: raw_key.decrypt(c, OAEP.padding()), ct, 2, args.seconds
            )))  # fmt: skip

            os.environ["BENCH_PASSPHRASE"] = "bench"
            public = create_file_key(root / "key.pem", b"bench")
            file_backend = FileBackend(FileSettings("key.pem", root, "BENCH_PASSPHRASE"))
            ct = public.encrypt(b"k" * 32, OAEP.padding())
            rows.append(
                ("file backend, 1 thread", rate(lambda c: file_backend.unwrap(c, OAEP), ct, 1, args.seconds))
            )

            for sessions in [1, *many]:
                backend = softhsm_backend(root, sessions)
                ct = backend.public_key().encrypt(b"k" * 32, OAEP.padding())
                label = f"pkcs11 SoftHSM, {sessions} session(s), {sessions} thread(s)"
                rows.append((label, rate(lambda c, b=backend: b.unwrap(c, OAEP), ct, sessions, args.seconds)))
                backend.close()

            from keystore.ssm_backend import SsmBackend

            kms_key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
            public = store_ssm_key("/bench/key", kms_key, None)
            ssm = SsmBackend(SsmSettings("/bench/key", cache_seconds=3600))
            ct = public.encrypt(b"k" * 32, OAEP.padding())
            rows.append(
                (
                    "ssm backend, key cached, 1 thread",
                    rate(lambda c: ssm.unwrap(c, OAEP), ct, 1, args.seconds),
                )
            )
            fetch = rate(lambda _: ssm._fetch().public_key(), b"", 1, min(args.seconds, 1.0))
            rows.append(("ssm get_parameter + PEM load (cache miss), 1 thread", fetch))
        finally:
            moto.terminate()
            moto.wait(timeout=10)

    base = rows[0][1]
    print(f"{'measurement':58} {'unwraps/s':>10} {'ratio':>7}")
    for label, value in rows:
        print(f"{label:58} {value:10.0f} {value / base:7.2f}")
    print(f"\n({os.cpu_count()} CPUs, {args.seconds:g} s per measurement, OAEP-SHA256, RSA-2048)")


if __name__ == "__main__":
    main()
