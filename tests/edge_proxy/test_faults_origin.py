"""Origin faults through the proxy, against FaultyOrigin (a raw socket server that breaks the exchange):
what the client sees for each, that it never hangs, and that the proxy stays healthy afterwards."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Timeouts
from tests.fixtures_faults import faulty_origin
from tests.fixtures_proxy import (
    FORM,
    Canary,
    phone_config_dir,
    proxy_stack,
)
from tests.helpers import LOOP_CLOCK_SLACK

pytestmark = pytest.mark.both_loops  # the proxy (in-process, on the test's loop) runs on both loops

SECRET = "404-555-0150"


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return phone_config_dir(tmp_path / "cfg", rsa_key)


async def _metrics(admin: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{admin}/metrics") as response:
        return await response.text()


async def _post(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    headers = {"Content-Type": FORM}
    async with session.post(url, data=f"phone={SECRET}", headers=headers) as response:
        return response.status, await response.read()


@pytest.mark.parametrize(("path", "kind"), [("/close", "broken"), ("/garbage", "broken")])
async def test_an_origin_that_breaks_before_answering_is_a_502(
    canary: Canary, config_dir: Path, path: str, kind: str
) -> None:
    async with faulty_origin() as origin, proxy_stack(canary, config_dir, origin=origin.url) as stack:
        async with aiohttp.ClientSession() as session:
            assert await _post(session, stack.url + path) == (502, b"origin unreachable\n")
            assert (await _post(session, stack.url + "/ok"))[0] == 200  # the proxy is fine
        assert f'fle_proxy_origin_errors_total{{kind="{kind}"}} 1.0' in await _metrics(stack.admin)
    assert len(origin.requests) == 2
    assert all(SECRET not in line for line in origin.requests)


async def test_slow_headers_are_a_504_after_the_read_timeout(canary: Canary, config_dir: Path) -> None:
    timeouts = Timeouts(origin_read=0.5)
    async with (
        faulty_origin() as origin,
        proxy_stack(canary, config_dir, origin=origin.url, timeouts=timeouts) as stack,
    ):
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            started = loop.time()
            assert await _post(session, stack.url + "/slow-headers/5") == (504, b"origin timed out\n")
            assert 0.5 - LOOP_CLOCK_SLACK <= loop.time() - started < 3
            assert (await _post(session, stack.url + "/ok"))[0] == 200
        assert 'fle_proxy_origin_errors_total{kind="timeout"} 1.0' in await _metrics(stack.admin)


async def test_slow_body_is_cut_after_the_read_timeout_not_a_hang(canary: Canary, config_dir: Path) -> None:
    # The status line has gone out by the time the body stalls: the client gets 200 and a short body,
    # with the connection closed, so it can tell the answer is incomplete (Content-Length not reached).
    timeouts = Timeouts(origin_read=0.5)
    async with (
        faulty_origin() as origin,
        proxy_stack(canary, config_dir, origin=origin.url, timeouts=timeouts) as stack,
    ):
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            started = loop.time()
            async with session.post(
                stack.url + "/slow-body/5", data=f"phone={SECRET}", headers={"Content-Type": FORM}
            ) as response:
                assert response.status == 200 and response.content_length == 1000
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
            assert loop.time() - started < 3
            assert (await _post(session, stack.url + "/ok"))[0] == 200
        assert 'fle_proxy_origin_errors_total{kind="broken"} 1.0' in await _metrics(stack.admin)


async def test_a_reset_mid_response_aborts_the_client_response_quickly(
    canary: Canary, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge_proxy")
    async with faulty_origin() as origin, proxy_stack(canary, config_dir, origin=origin.url) as stack:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                started = loop.time()
                async with session.post(
                    stack.url + "/reset", data=f"phone={SECRET}", headers={"Content-Type": FORM}
                ) as response:
                    assert response.status == 200
                    with pytest.raises(aiohttp.ClientPayloadError):
                        await response.read()
                assert loop.time() - started < 3  # the proxy's default 30 s read timeout never came into it
            assert (await _post(session, stack.url + "/ok"))[0] == 200
            async with session.get(stack.admin + "/healthz") as response:
                assert response.status == 200
        assert 'fle_proxy_origin_errors_total{kind="broken"} 3.0' in await _metrics(stack.admin)
        registry = stack.runtime.metrics.registry
        assert registry.get_sample_value("fle_proxy_in_flight_requests") == 0  # nothing left hanging
    assert origin.resets == 3
    broke = [r.getMessage() for r in caplog.records if "response broke off" in r.getMessage()]
    assert len(broke) == 3 and all(line.startswith(f"origin {origin.url}") for line in broke), broke
