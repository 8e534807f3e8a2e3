"""The whole path at DEBUG log level, with every log scanned for the plaintexts sent.

`fle origin`, `fle proxy` and `fle decrypt` run as subprocesses with `--log-level DEBUG` (the root logger,
so aiohttp, asyncio, aws_encryption_sdk and ours all log at DEBUG). The test sends protected values in
valid, compressed, refused and oddly named forms, and in a query string; then it decrypts the stored
item. Every line the processes wrote (diagnostic log, access log, audit log, tracebacks) and the store
file is searched for each plaintext, raw, percent-encoded, base64 and hex. Only `fle decrypt`'s stdout,
which is its answer, may hold them, and it must (so the path really ran).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_process import ROOT, FleProcess, fle_command, running
from tests.helpers import make_config_dir, write_file_keystore

SECRETS = ("404-555-0150", "917-555-0199", "212-555-0142", "646-555-0177", "718-555-0123")


def spellings(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    }


@contextmanager
def fle_at_debug(args: list[str], env: dict[str, str], log_dir: Path, name: str) -> Iterator[str]:
    """Run `fle --log-level DEBUG <args>` until the block ends, its streams in log_dir; yields its URL."""
    log_to = (log_dir / f"{name}.out", log_dir / f"{name}.err")
    with running(FleProcess(fle_command("--log-level", "DEBUG", *args), env=env, log_to=log_to)) as process:
        yield process.url(args[0])  # "origin listening on ..." / "proxy listening on ..."


async def send_everything(proxy: str) -> str:
    """Valid, compressed, refused and renamed protected values; returns the id of the stored item."""
    a, b, c, d, e = SECRETS
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy}/submit", data={"name": "Jane", "phone": a}) as response:
            assert response.status == 200, await response.text()
            item_id = response.headers["X-Submission-Id"]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        gz = {**form, "Content-Encoding": "gzip"}
        async with session.post(
            f"{proxy}/submit", data=gzip.compress(f"phone={b}".encode()), headers=gz
        ) as r:
            assert r.status == 200
        async with session.post(f"{proxy}/submit", data=f"x=1;phone={c}", headers=form) as r:
            assert r.status == 400  # refused: its reason must not quote the body
        async with session.post(f"{proxy}/submit", data=f"PHONE[]={d}&phone={d}%zz", headers=form) as r:
            assert r.status == 400
        async with session.post(f"{proxy}/submit?phone={quote(e)}", data=f"phone={e}", headers=form) as r:
            assert r.status == 200
        async with session.post(f"{proxy}/submit", data=b"\x1f\x8b" + a.encode(), headers=gz) as r:
            assert r.status == 400
    return item_id


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # fle proxy --loop: each logs by its own paths
async def test_no_plaintext_in_any_log_at_debug(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, loop: str
) -> None:
    config = make_config_dir(tmp_path / "config", rsa_key)
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    store = tmp_path / "store.db"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEST_KEY_PASSPHRASE": "pw",
        "FLE_KEYSTORE": str(keystore),
        "FLE_STORE": f"sqlite:///{store}",
        "PYTHONASYNCIODEBUG": "1",
    }
    with fle_at_debug(["origin", "--listen", "127.0.0.1:0"], env, logs, "origin") as origin:
        proxy_args = ["proxy", "--config", str(config), "--origin", origin, "--listen", "127.0.0.1:0"]
        with fle_at_debug([*proxy_args, "--admin", "off", "--loop", loop], env, logs, "proxy") as proxy:
            item_id = await send_everything(proxy)
    audit = logs / "audit.log"
    decrypted = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fle", "--log-level", "DEBUG", "decrypt", "--id", item_id, "--json"],
        capture_output=True,
        cwd=ROOT,
        env={**env, "FLE_AUDIT_FILE": str(audit)},
        timeout=60,
    )
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    assert SECRETS[0].encode() in decrypted.stdout  # the path ran: the decryptor's answer holds it
    (logs / "decrypt.err").write_bytes(decrypted.stderr)

    scanned = {path.name: path.read_bytes() for path in logs.iterdir()}
    scanned["store.db"] = store.read_bytes()
    assert b"DEBUG" in scanned["proxy.err"] and b"DEBUG" in scanned["decrypt.err"]  # really at DEBUG
    assert f"{loop} loop)".encode() in scanned["proxy.err"]
    assert scanned["proxy.out"].count(b'"action"') >= 6 and audit.stat().st_size > 0
    leaks = [
        f"{spelling!r} in {name}"
        for name, data in scanned.items()
        for secret in SECRETS
        for spelling in spellings(secret)
        if spelling.encode() in data
    ]
    assert not leaks, leaks
