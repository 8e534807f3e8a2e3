"""`fle proxy` restarted with requests in flight, as a real process: SIGTERM drains.

test_proxy_ops.py already shows one slow request finishing after SIGTERM. This adds what an operator
restarting the proxy under load relies on: several encrypting requests in flight all finish with their
fields encrypted, a client still uploading its body finishes, nothing new is accepted, a request that outlives
--shutdown-timeout is cut (and logged as 499) instead of holding the exit, and the exit status is 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.edge_proxy.test_proxy_cloudfront import post
from tests.fixtures_process import eventually_async, fle_proxy
from tests.fixtures_proxy import FORM, Canary, phone_config_dir


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return phone_config_dir(tmp_path / "cfg", rsa_key, text_passes=True)


async def _trickle(url: str, started: asyncio.Event) -> tuple[int, bytes]:
    """A client still uploading its body (20 chunks over 2 s) when SIGTERM arrives."""

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 1000
            started.set()
            await asyncio.sleep(0.1)

    return await post(url, body(), "text/plain")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_sigterm_with_many_requests_in_flight(canary: Canary, config_dir: Path, loop: str) -> None:
    secrets = [f"404-555-01{i:02d}" for i in range(4)]
    canary.protect(*secrets)
    args = ("--config", str(config_dir), "--origin", canary.url, "--listen", "127.0.0.1:0")
    process = fle_proxy(*args, "--admin", "127.0.0.1:0", "--shutdown-timeout", "3", "--loop", loop)
    try:
        await process.wait_for_async(f"{loop} loop)", timeout=20)
        url = process.url("proxy")
        finishing = [asyncio.create_task(post(f"{url}/slow/1.5", f"phone={s}")) for s in secrets]
        too_slow = asyncio.create_task(post(f"{url}/slow/8", b"too slow", "text/plain"))
        await eventually_async(lambda: len(canary.received) >= 5, timeout=20)
        uploading = asyncio.Event()
        trickling = asyncio.create_task(_trickle(f"{url}/upload", uploading))
        await asyncio.wait_for(uploading.wait(), 10)
        clock = asyncio.get_running_loop()
        signalled = clock.time()
        process.send_signal(signal.SIGTERM)
        await process.wait_for_async("draining", timeout=20)
        with pytest.raises(aiohttp.ClientError):  # refused, or reset if it raced the listener's close
            await post(f"{url}/x", b"late", "text/plain")

        for task in finishing:
            status, answer = await task
            assert status == 200 and json.loads(answer)["content_type"] == FORM
        status, answer = await trickling
        assert status == 200 and json.loads(answer)["size"] == 20000  # its body kept coming after SIGTERM
        with pytest.raises(aiohttp.ClientError):  # cut when the shutdown timeout ran out
            await too_slow
        assert await process.wait_async(20) == 0
        assert clock.time() - signalled < 3 + 3  # --shutdown-timeout bounds the exit
    finally:
        await asyncio.to_thread(process.kill)
    encrypted = [r for r in canary.received if r.path == "/slow/1.5"]
    assert len(encrypted) == 4 and all(r.body.startswith(b"phone=AYAB") for r in encrypted)
    access = [json.loads(line) for line in process.stdout().splitlines()]
    statuses = sorted((a["path"], a["status"]) for a in access)
    assert statuses == sorted([("/slow/1.5", 200)] * 4 + [("/slow/8", 499), ("/upload", 200)])
