"""The edge's client to the origin against raw asyncio servers on loopback that send what aiohttp as a
server never would: chunked bodies in pieces, close-delimited bodies, interim 1xx heads, a connection
closed while it waits in the pool, a chunked body cut off or malformed, a head that never comes, bytes
after a complete response, an early answer to an upload, an origin that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from multidict import CIMultiDict
from yarl import URL

from edge_proxy.origin_client.errors import Broken, UpstreamTimeout
from edge_proxy.origin_client.pool import OriginPool
from testkit.serving import serving_raw
from tests.edge_proxy.upstream_kit import read_body
from tests.helpers import LOOP_CLOCK_SLACK

pytestmark = pytest.mark.both_loops

Reader, Writer = asyncio.StreamReader, asyncio.StreamWriter


@dataclass
class Raw:
    """A raw server: `answer(request head, reader, writer)` is called for every request it reads."""

    answer: Callable[[bytes, Reader, Writer], Awaitable[bool]]  # False: stop serving this connection
    url: str = ""
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)

    async def serve(self, reader: Reader, writer: Writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                if not await self.answer(head, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@asynccontextmanager
async def raw_origin(answer: Callable[[bytes, Reader, Writer], Awaitable[bool]]) -> AsyncIterator[Raw]:
    raw = Raw(answer)
    async with serving_raw(raw.serve) as raw.url:
        yield raw


def _pool(url: str, read_timeout: float = 5.0, idle_timeout: float = 30.0) -> OriginPool:
    return OriginPool(
        URL(url), size=4, connect_timeout=2.0, read_timeout=read_timeout, idle_timeout=idle_timeout
    )


def _path(head: bytes) -> str:
    return head.split(b" ", 2)[1].decode()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def test_chunked_in_pieces_then_the_connection_is_reused() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        return True

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for _ in range(2):
            response = await pool.request("GET", "/", CIMultiDict(), None)
            assert response.content_length is None and not response.close_delimited
            assert await read_body(response) == b"hello world"
        assert pool.idle == 1
    assert raw.connections == 1


async def test_a_close_delimited_body_ends_at_eof_and_is_not_reused() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil")
        await writer.drain()
        writer.write(b" the end")
        return False

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for _ in range(2):
            response = await pool.request("GET", "/", CIMultiDict(), None)
            assert response.close_delimited
            assert await read_body(response) == b"until the end"
        assert pool.idle == 0
    assert raw.connections == 2


async def test_interim_heads_are_skipped_and_101_is_refused() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        if _path(head) == "/switch":
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
            return False
        if _path(head) == "/no-reason":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
            return True
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nX-Final: 1\r\n")
        writer.write(b"Content-Length: 2\r\n\r\nok")
        return True

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        response = await pool.request("POST", "/", CIMultiDict(), b"x")
        assert (response.status, response.reason) == (201, "Created")
        assert list(response.headers.items()) == [("X-Final", "1"), ("Content-Length", "2")]
        assert await read_body(response) == b"ok"
        response = await pool.request("GET", "/no-reason", CIMultiDict(), None)
        assert (response.status, response.reason) == (200, "")  # not the interim head's "Continue"
        await read_body(response)
        with pytest.raises(Broken):
            await pool.request("GET", "/switch", CIMultiDict(), None)


async def test_no_body_for_204_and_304_and_the_connection_stays() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        if _path(head) == "/204":
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
        return True

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for path in ("/204", "/304", "/204"):
            response = await pool.request("GET", path, CIMultiDict(), None)
            assert response.complete and await read_body(response) == b""
    assert raw.connections == 1


async def test_connection_close_from_the_origin_is_honoured() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.5)  # it does not close at once: we must not wait for that to stop reusing
        return False

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for _ in range(2):
            assert await read_body(await pool.request("GET", "/", CIMultiDict(), None)) == b"ok"
            assert pool.idle == 0
    assert raw.connections == 2


async def test_a_connection_the_origin_closed_while_pooled_is_not_used() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(OK)
        await writer.drain()
        await asyncio.sleep(0.1)
        return False  # its keep-alive timeout: closed while the connection waits in our pool

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        assert await read_body(await pool.request("POST", "/1", CIMultiDict(), b"a")) == b"ok"
        await asyncio.sleep(0.4)
        assert await read_body(await pool.request("POST", "/2", CIMultiDict(), b"b")) == b"ok"
    assert raw.connections == 2 and [_path(h) for h in raw.heads] == ["/1", "/2"]


async def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    closed = asyncio.Event()

    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(OK)
        await writer.drain()
        if await reader.read(1) == b"":  # our side closed it
            closed.set()
        return False

    async with raw_origin(answer) as raw, _pool(raw.url, idle_timeout=0.3) as pool:
        assert await read_body(await pool.request("GET", "/", CIMultiDict(), None)) == b"ok"
        assert pool.idle == 1
        await asyncio.wait_for(closed.wait(), 3)
        assert pool.idle == 0
    assert raw.connections == 1


async def test_a_reused_connection_that_fails_is_retried_only_for_an_idempotent_request() -> None:
    # The origin closes a kept-alive connection on its second request without a word: the race of a
    # keep-alive timeout with our request. GET is sent again on a new connection; POST is not (it might
    # have been applied), and is a Broken exchange.
    served: dict[Writer, int] = {}  # keyed by the writer itself: an id() could be reused

    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        served[writer] = served.get(writer, 0) + 1
        if served[writer] == 2:
            return False
        writer.write(OK)
        return True

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        assert await read_body(await pool.request("GET", "/a", CIMultiDict(), None)) == b"ok"
        assert await read_body(await pool.request("GET", "/b", CIMultiDict(), None)) == b"ok"
        assert [_path(h) for h in raw.heads] == ["/a", "/b", "/b"] and raw.connections == 2
        with pytest.raises(Broken):
            await pool.request("POST", "/c", CIMultiDict(), b"x")
        assert [_path(h) for h in raw.heads][3:] == ["/c"] and raw.connections == 2


async def test_a_chunked_body_cut_off_or_malformed_breaks_the_read() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        if _path(head) == "/malformed":
            writer.write(b"zz\r\nnot a chunk\r\n")
        return False  # closed before the last chunk

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for path in ("/cut", "/malformed"):
            response = await pool.request("GET", path, CIMultiDict(), None)
            with pytest.raises(Broken):
                await read_body(response)
        assert pool.idle == 0


async def test_garbage_and_an_oversized_head_are_broken() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        if _path(head) == "/garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n")
        return False

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for path in ("/garbage", "/huge-head"):
            with pytest.raises(Broken):
                await pool.request("GET", path, CIMultiDict(), None)


async def test_a_head_that_never_comes_is_a_read_timeout() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        await asyncio.sleep(5)
        return False

    async with raw_origin(answer) as raw, _pool(raw.url, read_timeout=0.3) as pool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeout):
            await pool.request("GET", "/", CIMultiDict(), None)
        assert 0.3 - LOOP_CLOCK_SLACK <= loop.time() - started < 2
        assert pool.idle == 0


async def test_bytes_after_a_complete_response_retire_the_connection() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra")
        return True

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        for _ in range(2):
            assert await read_body(await pool.request("GET", "/", CIMultiDict(), None)) == b"ok"
        assert pool.idle == 0
    assert raw.connections == 2


async def test_an_early_answer_ends_the_upload() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!")
        await writer.drain()
        await asyncio.sleep(0.2)
        return False

    pieces_sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pieces_sent
        for _ in range(10_000):  # bounded: 640 MiB at most, far more than the test lets go out
            pieces_sent += 1
            yield b"u" * 65536
            await asyncio.sleep(0.001)

    async with raw_origin(answer) as raw, _pool(raw.url) as pool:
        response = await pool.request("PUT", "/", CIMultiDict(), endless())
        assert response.status == 413 and await read_body(response) == b"big!"
        assert pool.idle == 0  # the request did not go out whole: the connection is not reused
    assert pieces_sent < 1000


async def test_an_origin_that_stops_reading_the_upload_is_a_timeout() -> None:
    async def answer(head: bytes, reader: Reader, writer: Writer) -> bool:
        await asyncio.sleep(5)  # reads nothing of the body: the socket buffers fill up
        return False

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(4096):  # 256 MiB at most, more than loopback buffers hold
            yield b"u" * 65536

    async with raw_origin(answer) as raw, _pool(raw.url, read_timeout=0.5) as pool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeout):
            await pool.request("PUT", "/", CIMultiDict([("Content-Length", str(4096 * 65536))]), upload())
        assert loop.time() - started < 4
