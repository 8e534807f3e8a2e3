"""Every entry point at DEBUG, fed hostile input: no canary and no forged line in anything it writes.

`fle reveal`, `fle proxy`, `fle origin` and `fle decrypt` run as processes with `--log-level DEBUG` and
PYTHONASYNCIODEBUG=1, all through the one logging setup (logsafe). Canaries go where a log must never
show them: a caller's bearer token and a card number in a header line with one bad byte (aiohttp's parser
quotes the whole line in the exception it logs), a query string, a body cut short. Forged lines go where
our own log lines quote what came in: a provider id read from a ciphertext header holding a newline and a
complete log line after it, a request path. Every byte written (stdout, stderr, access log, audit log) is
searched for each canary (raw, percent-encoded, base64, hex) and for a line that starts with the forgery.
`fle decrypt`'s stdout is its answer and must hold the plaintext it decrypted (so the path really ran).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from tests.fixtures_decryptor import proxy_encrypt
from tests.fixtures_process import ROOT, fle
from tests.fixtures_proxy import phone_config_dir
from tests.helpers import serving, write_file_keystore
from tests.reveal_support import TOKEN, make_pki, processor, write_routes
from tests.security.test_logs_debug import spellings

CARD = "4111-5550-0000-0190"  # a canary: a card number on its way to the processor
HEADER_CANARY = "404-555-0191"
QUERY_CANARY = "404-555-0192"
BODY_CANARY = "404-555-0193"
CANARIES = (TOKEN, CARD, HEADER_CANARY, QUERY_CANARY, BODY_CANARY)
FORGED = "2026-01-01 00:00:00,000 WARNING fle: FORGED"  # what a forged line would start with


def leaks(written: dict[str, bytes], allowed: dict[str, set[str]] | None = None) -> list[str]:
    found = [
        f"{canary} as {spelling!r} in {name}"
        for name, data in written.items()
        for canary in CANARIES
        if canary not in (allowed or {}).get(name, set())
        for spelling in spellings(canary)
        if spelling.encode() in data
    ]
    forged = [
        f"forged line in {name}: {line[:80]!r}"
        for name, data in written.items()
        for line in data.replace(b"\r", b"\n").split(b"\n")
        if line.startswith(FORGED.encode())
    ]
    return found + forged


async def exchange(port: int, request: bytes) -> bytes:
    """One raw request on its own connection; what came back (nothing if the server just closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


def hostile_requests(path: str, auth: str) -> dict[str, bytes]:
    """Requests whose bad byte makes aiohttp's parser quote a header line or the request line."""
    head = f"HTTP/1.1\r\nHost: x\r\n{auth}"
    texts = {
        "token_bad_byte": f"GET {path} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Bearer {TOKEN}\x01\r\n"
        "\r\n",
        "header_bad_byte": f"GET {path} {head}X-Card: {HEADER_CANARY}\x01\r\n\r\n",
        "request_line": f"GET {path}?card={QUERY_CANARY} HTTP/1.1 x\r\nHost: x\r\n\r\n",
        "cut_short": f"POST {path} {head}Content-Type: application/x-www-form-urlencoded\r\n"
        f"Transfer-Encoding: chunked\r\n\r\nZ{BODY_CANARY}\r\n",
    }
    return {name: text.encode() for name, text in texts.items()}


async def stop(process) -> None:  # type: ignore[no-untyped-def]
    # a quiet period, not a wait for a condition: the scan looks for bytes that must NOT be there
    await asyncio.sleep(0.5)
    await asyncio.to_thread(process.stop, signal.SIGTERM, 30)


async def test_fle_reveal(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        process = fle(
            "--log-level", "DEBUG", "reveal", "--routes", str(routes), "--listen", "127.0.0.1:0",
            "--keystore", str(keystore), "--audit-file", str(logs / "audit.jsonl"),
            env={"TEST_KEY_PASSPHRASE": "pw", "PYTHONASYNCIODEBUG": "1"},
            log_to=(logs / "reveal.out", logs / "reveal.err"),
        )  # fmt: skip
        try:
            await process.wait_for_async("reveal listening on", timeout=30)
            url = process.url("reveal")
            port = int(url.rsplit(":", 1)[1])
            auth = f"Proxy-Authorization: Bearer {TOKEN}\r\n"
            answers = {
                name: await exchange(port, request)
                for name, request in hostile_requests("/processor/charges", auth).items()
            }
            async with aiohttp.ClientSession() as session:
                headers = {"Proxy-Authorization": f"Bearer {TOKEN}"}
                forged_key = proxy_encrypt(rsa_key, CARD.encode(), provider=f"FLEDemo\n{FORGED} key")
                good = proxy_encrypt(rsa_key, CARD.encode())
                for value, status in ((forged_key, 403), (good, 201)):
                    body = {"card_number": value}
                    async with session.post(f"{url}/processor/charges", data=body, headers=headers) as r:
                        assert r.status == status, await r.text()
                refused = f"{url}/processor/..;/x%0a%0d?card={QUERY_CANARY}"
                async with session.post(refused, data={"a": "1"}, headers=headers) as r:
                    assert r.status == 400
        finally:
            await stop(process)
    assert [s.body.count(CARD.encode()) for s in proc.seen] == [1]  # the valid request did reach it
    assert answers["token_bad_byte"].split(b"\r\n")[0].endswith(b" 400 Bad Request")  # aiohttp's parser
    written = {path.name: path.read_bytes() for path in logs.iterdir()}
    assert not leaks(written), leaks(written)
    assert b" DEBUG " in written["reveal.err"] and b"KeyNotAllowed" in written["reveal.err"]
    assert b"FLEDemo\\n2026-01-01" in written["reveal.err"]  # the forged provider id, escaped on its line
    assert b"PathRefused" in written["audit.jsonl"] and b"PathRefused" in written["reveal.err"]


async def test_fle_proxy_and_its_access_log(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    config = phone_config_dir(tmp_path / "config", rsa_key, text_passes=True)

    async def origin_handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="stored")

    origin_app = web.Application()
    origin_app.router.add_route("*", "/{tail:.*}", origin_handler)
    async with serving(origin_app) as origin:
        process = fle(
            "--log-level", "DEBUG", "proxy", "--workers", "1", "--config", str(config), "--origin", origin,
            "--listen", "127.0.0.1:0", "--admin", "off", "--access-log", str(logs / "access.log"),
            env={"PYTHONASYNCIODEBUG": "1"}, log_to=(logs / "proxy.out", logs / "proxy.err"),
        )  # fmt: skip
        try:
            await process.wait_for_async("proxy listening on", timeout=30)
            url = process.url("proxy")
            port = int(url.rsplit(":", 1)[1])
            for request in hostile_requests("/submit", "").values():
                await exchange(port, request)
            async with aiohttp.ClientSession() as session:
                for path in ("/s%3Fphone%3DZZ1", "/t%09%1bZZ2", f"/u?phone={QUERY_CANARY}"):
                    async with session.get(URL(f"{url}{path}", encoded=True)) as r:
                        assert r.status == 200
        finally:
            await stop(process)
    written = {path.name: path.read_bytes() for path in logs.iterdir()}
    paths = [json.loads(line)["path"] for line in written["access.log"].splitlines()]
    assert "/s%3Fphone%3DZZ1" in paths and "/t%09%1bZZ2" in paths and "/u" in paths  # as received
    assert not any("?" in p or "\t" in p for p in paths)  # never decoded
    assert b" DEBUG " in written["proxy.err"] and b"Error handling request" in written["proxy.err"]
    assert not leaks(written), leaks(written)


async def test_fle_origin(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = f"sqlite:///{tmp_path / 's.db'}"
    process = fle(
        "--log-level", "DEBUG", "origin", "--listen", "127.0.0.1:0", "--store", store,
        env={"PYTHONASYNCIODEBUG": "1"}, log_to=(logs / "origin.out", logs / "origin.err"),
    )  # fmt: skip
    try:
        await process.wait_for_async("origin listening on", timeout=30)
        port = int(process.url("origin").rsplit(":", 1)[1])
        answers = [await exchange(port, r) for r in hostile_requests("/submit", "").values()]
    finally:
        await stop(process)
    written = {path.name: path.read_bytes() for path in logs.iterdir()}
    assert answers[0].split(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert b" DEBUG " in written["origin.err"] and b"Error handling request" in written["origin.err"]
    assert not leaks(written), leaks(written)


async def test_fle_decrypt(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    lines = [
        proxy_encrypt(rsa_key, CARD.encode()),  # decrypted: its plaintext belongs on stdout only
        proxy_encrypt(rsa_key, b"x", provider=f"FLEDemo\n{FORGED} provider"),  # no such key
        proxy_encrypt(rsa_key, b"x", name=f"DemoPublicKey\r{FORGED} name"),
        f"{BODY_CANARY}\x01not base64",
    ]
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fle", "--log-level", "DEBUG", "decrypt", "--json", "--audit-file", "-"],
        input="\n".join(lines).encode() + b"\n",
        capture_output=True,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TEST_KEY_PASSPHRASE": "pw",
            "FLE_KEYSTORE": str(keystore),
        },
        timeout=120,
    )
    assert done.returncode == 1  # three values could not be decrypted
    assert CARD.encode() in done.stdout  # the one that could is the answer
    audit = [json.loads(line) for line in done.stderr.splitlines() if line.startswith(b'{"time"')]
    reasons = {line["index"]: line.get("reason") for line in audit}
    assert reasons == {0: None, 1: "key_unknown", 2: "key_unknown", 3: "not_a_message"}
    [forged] = [line for line in audit if line["index"] == 1]
    assert forged["provider_id"] == f"FLEDemo\n{FORGED} provider"  # in the audit, JSON-escaped
    assert not leaks({"decrypt.err": done.stderr}), leaks({"decrypt.err": done.stderr})
    assert urllib.parse.quote(CARD) not in done.stderr.decode()
