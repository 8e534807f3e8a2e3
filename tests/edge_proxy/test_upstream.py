"""The edge's own client to the origin (origin_client/pool.py) against a real aiohttp origin on loopback,
plain and over TLS: what goes out (only our headers, correct framing), what comes back (untouched: no
redirect followed, no decompression), keep-alive reuse, the pool's limit, timeouts, and a response read in
bounded memory when its reader is slow."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict
from yarl import URL

from edge_proxy import start_site, tls_context
from edge_proxy.origin_client.errors import BodyFailed, ConnectFailed, UpstreamTimeout
from edge_proxy.origin_client.pool import OriginPool
from edge_proxy.origin_client.response import HIGH_WATER
from tests.edge_proxy.upstream_kit import read_body
from tests.fixtures_proxy import Canary, phone_config_dir, proxy_stack
from tests.helpers import LOOP_CLOCK_SLACK

pytestmark = pytest.mark.both_loops


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    peer_port: int


@dataclass
class Origin:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    concurrent: int = 0
    most_concurrent: int = 0


def _origin_app(origin: Origin) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        origin.seen.append(
            Seen(request.method, request.path_qs, list(request.headers.items()), body, peer[1] if peer else 0)
        )
        kind = request.match_info["kind"]
        if kind == "redirect":
            raise web.HTTPFound("/elsewhere")
        if kind == "gzip":
            return web.Response(body=gzip.compress(b"hello " * 100), headers={"Content-Encoding": "gzip"})
        if kind == "slow":
            origin.concurrent += 1
            origin.most_concurrent = max(origin.most_concurrent, origin.concurrent)
            await asyncio.sleep(float(request.query.get("s", "0.2")))
            origin.concurrent -= 1
        if kind == "sized":
            return web.Response(body=b"s" * int(request.query["n"]), headers={"X-Kind": kind})
        if kind == "big":
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(int(request.query["n"])):
                await response.write(b"b" * 65536)
            await response.write_eof()
            return response
        return web.Response(body=body or b"no body", headers={"X-Kind": kind})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{kind}", handle)
    return app


@asynccontextmanager
async def aiohttp_origin(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Origin]:
    origin = Origin()
    runner, origin.url = await start_site(_origin_app(origin), "127.0.0.1", 0, ssl_context=ssl_context)
    try:
        yield origin
    finally:
        await runner.cleanup()


def _pool(url: str, **kwargs: object) -> OriginPool:
    settings: dict[str, object] = {"size": 8, "connect_timeout": 2.0, "read_timeout": 5.0} | kwargs
    return OriginPool(URL(url), **settings)  # type: ignore[arg-type]


async def test_only_our_headers_go_out_with_host_and_length() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        headers = CIMultiDict([("X-Forwarded-For", "203.0.113.9"), ("Content-Type", "text/plain")])
        response = await pool.request("POST", "/echo?a=1&b=%20", headers, b"payload")
        assert (response.status, response.reason, response.content_length) == (200, "OK", 7)
        assert response.headers["X-Kind"] == "echo"
        assert await read_body(response) == b"payload"
    seen = origin.seen[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/echo?a=1&b=%20", b"payload")
    host = URL(origin.url).host_port_subcomponent
    assert seen.headers == [
        ("Host", host),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Content-Type", "text/plain"),
        ("Content-Length", "7"),
    ]  # no User-Agent, Accept, Accept-Encoding or Connection added


async def test_credentials_in_the_origin_url_are_sent_as_basic_auth() -> None:
    async with aiohttp_origin() as origin:
        with_user = URL(origin.url).with_user("edge").with_password("s3cret:x")
        async with _pool(str(with_user)) as pool:
            headers = CIMultiDict([("Authorization", "Bearer from-the-client")])
            await read_body(await pool.request("GET", "/echo", headers, None))
        async with _pool(origin.url) as pool:
            await read_body(await pool.request("GET", "/echo", CIMultiDict(), None))
    sent = [dict(s.headers).get("Authorization") for s in origin.seen]
    assert sent == [aiohttp.encode_basic_auth("edge", "s3cret:x"), None]


async def test_bodyless_requests_say_length_zero_only_where_a_body_is_expected() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        for method in ("GET", "POST", "DELETE", "OPTIONS"):
            await read_body(await pool.request(method, "/x", CIMultiDict(), None))
    lengths = [dict(s.headers).get("Content-Length") for s in origin.seen]
    assert lengths == [None, "0", "0", None]


async def test_a_kept_alive_connection_is_reused_and_head_leaves_it_usable() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        for method in ("GET", "HEAD", "POST", "GET"):
            response = await pool.request(method, "/reuse", CIMultiDict(), b"" if method == "POST" else None)
            body = await read_body(response)
            if method == "HEAD":
                assert body == b"" and response.content_length == len(b"no body")
        assert pool.idle == 1
    assert len({s.peer_port for s in origin.seen}) == 1


async def test_streamed_bodies_go_with_their_length_or_chunked() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(5):
            yield bytes([65 + i]) * 1000
            yield b""  # an empty piece must not end a chunked body

    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        with_length = CIMultiDict([("Content-Length", "5000")])
        assert await read_body(await pool.request("PUT", "/a", with_length, pieces())) == origin.seen[0].body
        chunked = await pool.request("PUT", "/b", CIMultiDict(), pieces())
        assert await read_body(chunked) == origin.seen[1].body
    assert origin.seen[0].body == b"".join(bytes([65 + i]) * 1000 for i in range(5))
    first, second = dict(origin.seen[0].headers), dict(origin.seen[1].headers)
    assert first["Content-Length"] == "5000" and "Transfer-Encoding" not in first
    assert second["Transfer-Encoding"] == "chunked" and "Content-Length" not in second


async def test_a_failing_body_iterator_is_the_cause_and_cuts_the_connection() -> None:
    class Refused(Exception):
        pass

    async def pieces() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise Refused

    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        with pytest.raises(BodyFailed) as failure:
            await pool.request("POST", "/cut", CIMultiDict(), pieces())
        assert isinstance(failure.value.__cause__, Refused)
        assert pool.idle == 0
        assert await read_body(await pool.request("GET", "/after", CIMultiDict(), None)) == b"no body"
    assert [s.path for s in origin.seen] == ["/after"]  # the cut upload never reached the handler


async def test_redirects_and_compressed_bodies_come_back_untouched() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        response = await pool.request("GET", "/redirect", CIMultiDict(), None)
        assert response.status == 302 and response.headers["Location"] == "/elsewhere"
        await read_body(response)
        response = await pool.request("GET", "/gzip", CIMultiDict(), None)
        assert response.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await read_body(response)) == b"hello " * 100
    assert [s.path for s in origin.seen] == ["/redirect", "/gzip"]


async def test_the_pool_limit_holds_requests_back() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url, size=2) as pool:

        async def one() -> bytes:
            return await read_body(await pool.request("GET", "/slow?s=0.2", CIMultiDict(), None))

        assert await asyncio.gather(*(one() for _ in range(6))) == [b"no body"] * 6
    assert origin.most_concurrent == 2
    assert len({s.peer_port for s in origin.seen}) == 2


async def test_a_silent_origin_is_a_read_timeout() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url, read_timeout=0.3) as pool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeout):
            await pool.request("GET", "/slow?s=3", CIMultiDict(), None)
        assert loop.time() - started < 2
        assert await read_body(await pool.request("GET", "/ok", CIMultiDict(), None)) == b"no body"


async def test_connect_failures() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: refused
        async with _pool(f"http://127.0.0.1:{port}") as pool:
            with pytest.raises(ConnectFailed):
                await pool.request("GET", "/", CIMultiDict(), None)


async def test_a_connect_that_does_not_complete_is_a_connect_timeout() -> None:
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)  # never accepted: once its queue is full, the kernel drops further SYNs
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(full.getsockname())
        try:
            async with _pool(f"http://127.0.0.1:{full.getsockname()[1]}", connect_timeout=0.5) as pool:
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(UpstreamTimeout):
                    await pool.request("GET", "/", CIMultiDict(), None)
                assert 0.5 - LOOP_CLOCK_SLACK <= loop.time() - started < 3
        finally:
            for filler in fillers:
                filler.close()


async def test_a_slow_reader_holds_the_origin_back_in_bounded_memory() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        response = await pool.request("GET", "/big?n=512", CIMultiDict(), None)  # 32 MiB
        await asyncio.sleep(0.5)  # nobody reads: the origin must be held back
        assert response.buffered <= HIGH_WATER + 256 * 1024
        assert len(await read_body(response)) == 512 * 65536
        assert pool.idle == 1
    assert len(origin.seen) == 1


async def test_abandoning_a_response_closes_its_connection() -> None:
    async with aiohttp_origin() as origin, _pool(origin.url) as pool:
        response = await pool.request("GET", "/big?n=256", CIMultiDict(), None)
        assert await response.read()
        response.close()
        assert pool.idle == 0
        assert await read_body(await pool.request("GET", "/next", CIMultiDict(), None)) == b"no body"
    assert len({s.peer_port for s in origin.seen}) == 2


# --- through the proxy ----------------------------------------------------------------------------------


async def test_the_proxy_relays_small_large_chunked_and_head_responses(
    canary: Canary, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    config_dir = phone_config_dir(tmp_path / "cfg", rsa_key)
    async with (
        aiohttp_origin() as origin,
        proxy_stack(canary, config_dir, origin=origin.url) as stack,
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        for n in (0, 100, 64 * 1024, 200_000):  # one write up to 64 KiB, streamed with its length above
            async with session.get(f"{stack.url}/sized?n={n}") as response:
                assert response.status == 200 and response.headers["X-Kind"] == "sized"
                assert response.content_length == n and await response.read() == b"s" * n
        async with session.head(f"{stack.url}/sized?n=100") as response:
            assert response.status == 200 and response.headers["Content-Length"] == "100"
            assert await response.read() == b""
        async with session.get(f"{stack.url}/big?n=3") as response:
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert await response.read() == b"b" * 3 * 65536
        async with session.get(f"{stack.url}/redirect", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/elsewhere"
    assert [s.method for s in origin.seen] == ["GET"] * 4 + ["HEAD", "GET", "GET"]
    assert len({s.peer_port for s in origin.seen}) == 1  # one kept-alive connection for all of them


# --- https -----------------------------------------------------------------------------------------------


async def test_https_origin_verified_with_the_ca_passed_in(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    trusted = ssl.create_default_context(cafile=str(cert))
    async with aiohttp_origin(tls_context(cert, key)) as origin:
        assert origin.url.startswith("https://127.0.0.1:")
        async with _pool(origin.url, ssl_context=trusted) as pool:
            for _ in range(2):
                response = await pool.request("POST", "/tls", CIMultiDict(), b"secret")
                assert await read_body(response) == b"secret"
        async with _pool(origin.url) as pool:  # the system CAs do not know this certificate
            with pytest.raises(ConnectFailed):
                await pool.request("GET", "/tls", CIMultiDict(), None)
        port = URL(origin.url).port
        async with _pool(f"https://localhost:{port}", ssl_context=trusted) as pool:  # not its name
            with pytest.raises(ConnectFailed):
                await pool.request("GET", "/tls", CIMultiDict(), None)
    assert len(origin.seen) == 2 and len({s.peer_port for s in origin.seen}) == 1
