"""Client-side limits, tested with raw sockets against the real proxy: header size and count, a slow head
(slowloris), a slow body, a body over the limit, and the open-connection cap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import ClientLimits, Limits, Timeouts
from tests.fixtures_process import eventually_async
from tests.fixtures_proxy import (
    FORM,
    Canary,
    phone_config_dir,
    proxy_stack,
)

pytestmark = pytest.mark.both_loops  # every guard and limit holds on uvloop too (fle proxy --loop)

SMALL = ClientLimits(max_header_bytes=1024, max_headers=20, header_timeout=1.0, max_connections=8)


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return phone_config_dir(tmp_path / "cfg", rsa_key)


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def exchange(url: str, data: bytes) -> bytes:
    reader, writer = await connect(url)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


def request(*headers: bytes, body: bytes = b"phone=1") -> bytes:
    head = [
        b"POST /x HTTP/1.1",
        b"Host: h",
        b"Connection: close",
        b"Content-Type: " + FORM.encode(),
        *headers,
    ]
    return b"\r\n".join([*head, b"Content-Length: %d" % len(body)]) + b"\r\n\r\n" + body


async def test_within_limits_a_request_passes(canary: Canary, config_dir: Path) -> None:
    async with proxy_stack(canary, config_dir, client_limits=SMALL) as stack:
        answer = await exchange(stack.url, request(*(b"X-%d: %s" % (i, b"v" * 900) for i in range(15))))
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "headers",
    [
        [b"X-Big: " + b"v" * 2000],  # one field over max_header_bytes
        [b"X-%d: v" % i for i in range(40)],  # more fields than max_headers
    ],
    ids=["header-too-long", "too-many-headers"],
)
async def test_oversized_heads_are_refused_before_the_proxy_runs(
    canary: Canary, config_dir: Path, headers: list[bytes]
) -> None:
    async with proxy_stack(canary, config_dir, client_limits=SMALL) as stack:
        answer = await exchange(stack.url, request(*headers))
    assert answer.split(b" ", 2)[1] in (b"400", b"431"), answer[:200]
    assert canary.received == []


async def test_a_long_request_line_is_refused(canary: Canary, config_dir: Path) -> None:
    async with proxy_stack(canary, config_dir, client_limits=SMALL) as stack:
        answer = await exchange(stack.url, b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert answer.split(b" ", 2)[1] in (b"400", b"414"), answer[:200]
    assert canary.received == []


async def test_a_slow_head_is_cut_off(canary: Canary, config_dir: Path) -> None:
    """Slowloris: a head trickled in a byte at a time is closed after header_timeout."""
    async with proxy_stack(canary, config_dir, client_limits=SMALL) as stack:
        reader, writer = await connect(stack.url)
        started = time.monotonic()
        closed_after = None
        for byte in request(*(b"X-%d: v" % i for i in range(10))):
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                closed_after = time.monotonic() - started
                break
            if reader.at_eof() or (await _closed(reader)):
                closed_after = time.monotonic() - started
                break
            if time.monotonic() - started > 8:
                break
        writer.close()
    assert closed_after is not None and closed_after < 3, closed_after
    assert canary.received == []


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), 0.1)
    except TimeoutError:
        return False
    return data == b""


async def test_an_idle_new_connection_is_closed(canary: Canary, config_dir: Path) -> None:
    async with proxy_stack(canary, config_dir, client_limits=SMALL) as stack:
        reader, writer = await connect(stack.url)
        started = time.monotonic()
        data = await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
    assert data == b"" and 0.8 < time.monotonic() - started < 3


async def test_a_slow_body_gets_408(canary: Canary, config_dir: Path) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(
        canary, config_dir, timeouts=Timeouts(client_idle=0.5), client_limits=SMALL
    ) as stack:
        raw = request(body=b"phone=404-555-0150&x=" + b"y" * 50)
        reader, writer = await connect(stack.url)
        writer.write(raw[:-30])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"ClientIdleTimeout" in answer
    assert canary.received == []


async def test_a_body_over_the_limit_is_refused_from_its_length(canary: Canary, config_dir: Path) -> None:
    async with proxy_stack(
        canary, config_dir, limits=Limits(max_body_bytes=100), client_limits=SMALL
    ) as stack:
        answer = await exchange(stack.url, request(body=b"phone=1&x=" + b"y" * 200))
    assert answer.startswith(b"HTTP/1.1 400") and b"RequestLengthLimitClientError" in answer
    assert canary.received == []


async def test_connections_beyond_the_cap_get_503_and_the_cap_frees_up(
    canary: Canary, config_dir: Path
) -> None:
    async with proxy_stack(canary, config_dir, client_limits=SMALL) as stack:
        held = [await connect(stack.url) for _ in range(SMALL.max_connections)]

        async def refused_beyond_the_cap() -> None:  # once the proxy has accepted the held ones
            extra = await exchange(stack.url, request())
            assert extra.startswith(b"HTTP/1.1 503"), extra[:100]

        await eventually_async(refused_beyond_the_cap, timeout=5)
        for _, writer in held:
            writer.close()

        async def served_again() -> None:  # once the proxy has seen the held ones close
            again = await exchange(stack.url, request())
            assert again.startswith(b"HTTP/1.1 200"), again[:100]

        await eventually_async(served_again, timeout=5)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ClientLimits(max_connections=0)
    with pytest.raises(ValueError, match="header_timeout"):
        ClientLimits(header_timeout=0)
