"""`fle reveal` as a process: TLS on its listener, keystore from FLE_KEYSTORE, a charge reaching the fake
processor in plaintext, audit lines in --audit-file, a clean stop on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_decryptor import proxy_encrypt
from tests.helpers import write_file_keystore
from tests.reveal_support import bearer, make_pki, processor, write_routes

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(process: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        if text in line:
            return seen
    process.kill()
    raise AssertionError(f"{text!r} not seen; output:\n{seen}")


async def test_fle_reveal_serves_tls_reveals_to_the_processor_and_stops(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pki = make_pki(tmp_path / "pki")
    keystore = write_file_keystore(
        tmp_path / "ks", rsa_key, "pw", provider_id="FLEDemo", name="DemoPublicKey"
    )
    port = free_port()
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLE_KEYSTORE": str(keystore),
            "TEST_KEY_PASSPHRASE": "pw",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "fle", "reveal", "--routes", str(routes), "--listen", f"127.0.0.1:{port}",
             "--tls-cert", str(pki.cert), "--tls-key", str(pki.key),
             "--audit-file", str(tmp_path / "audit.jsonl")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        try:
            wait_for(process, f"reveal listening on https://127.0.0.1:{port}")
            body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, b'4111111111111111'), safe='')}"
            async with aiohttp.ClientSession() as session:
                headers = {"Content-Type": "application/x-www-form-urlencoded", **bearer()}
                url = f"https://127.0.0.1:{port}/processor/charges"
                async with session.post(url, data=body, headers=headers, ssl=_client_context(pki.ca)) as r:
                    assert r.status == 201
            assert proc.seen[0].body == b"card_number=4111111111111111"
        finally:
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "4111111111111111" not in output
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [x["phase"] for x in lines] == ["sending", "answered"]


def _client_context(ca: Path):  # type: ignore[no-untyped-def]
    import ssl

    return ssl.create_default_context(cafile=str(ca))
