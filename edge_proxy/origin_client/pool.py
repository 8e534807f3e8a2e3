"""The proxy's HTTP/1.1 client for its one origin: a pool of keep-alive connections and the request framing.

Why our own and not aiohttp's ClientSession: profiles of the reference proxy put about a third of its CPU
per request in the client machinery (ClientSession._request, ClientRequest.send and its header
updates, ClientResponse.start, the connector), most of it general-purpose work a reverse proxy with one
origin and headers it has already filtered never needs: cookies, redirects, auth, proxies, auto headers,
decompression, per-request timeout objects and traces. What is left is small: a pool, the request head
written by us (one `transport.write` with the body when the body is bytes), and the response read by
httptools (llhttp, the parser uvicorn and Node use) in a sans-IO protocol (protocol.py, state.py)
driven by connection.py, and handed to the proxy as response.py's OriginResponse.

What it sends is written, and how responses are read, by protocol.py (with state.py's table).

Retries: a connection taken from the pool that has been closed (the origin's keep-alive ran out) is
dropped before anything is written; one idle for over a second first lets the event loop run twice, so a
close already on its way is seen. A request that fails on a reused connection before any response byte
arrived is sent once more on a new connection when it is idempotent (GET, HEAD, OPTIONS, TRACE, PUT,
DELETE) and its body is bytes or none (RFC 9110 §9.2.2; aiohttp does the same). A streamed body cannot
be sent twice: it is read from the client as it goes. Nothing else is retried.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterable
from types import TracebackType

from aiohttp import encode_basic_auth
from multidict import CIMultiDict
from yarl import URL

from .connection import OriginConnection
from .errors import BodyFailed, Broken, ConnectFailed, PoolBusy, UpstreamTimeout
from .protocol import LAST_CHUNK, chunk, head_for
from .response import OriginResponse

Body = bytes | AsyncIterable[bytes] | None

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_ONE_WRITE = 64 * 1024  # bytes of body up to which head and body are joined into one write
_SETTLE_AFTER = 1.0  # seconds idle after which a pooled connection is given a loop turn to show a close


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(PoolBusy("no origin connection came free within the wait timeout"))


class OriginPool:
    """Keep-alive connections to one origin, at most `size` in use at once (more requests wait)."""

    def __init__(
        self,
        origin: URL,
        *,
        size: int,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float = 30.0,
        wait_timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if origin.scheme not in ("http", "https") or not origin.raw_host:
            raise ValueError("the origin must be an http:// or https:// URL with a host")
        self.host = origin.raw_host
        self.port = origin.port or (443 if origin.scheme == "https" else 80)
        self.host_header = origin.host_port_subcomponent or self.host
        self.base_path = origin.raw_path.rstrip("/")  # what every request-target starts with (forward.py)
        self.authorization = (  # credentials in --origin: Basic auth on every request, as aiohttp sent it
            encode_basic_auth(origin.user, origin.password or "") if origin.user is not None else None
        )
        self.ssl: ssl.SSLContext | None = None
        if origin.scheme == "https":  # verified against the system CAs, with SNI and a hostname check
            self.ssl = ssl_context or ssl.create_default_context()
        self.size = size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.wait_timeout = wait_timeout  # for a free connection when `size` are in use (None: no limit)
        self._idle: list[OriginConnection] = []  # most recently used last
        self._all: set[OriginConnection] = set()
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    async def __aenter__(self) -> OriginPool:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection, idle or in use."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
        for conn in list(self._all):
            conn.close()
        self._idle.clear()
        self._all.clear()

    @property
    def idle(self) -> int:
        """Connections waiting in the pool for a request."""
        return sum(1 for conn in self._idle if conn.alive)

    async def request(
        self, method: str, target: str, headers: CIMultiDict[str], body: Body
    ) -> OriginResponse:
        """Send the request, return the response once its head has arrived (its body follows).

        `headers` are sent as given, but for the framing headers, which are ours (it is changed). Raises
        ConnectFailed, UpstreamTimeout or Broken (BodyFailed when a streamed body's iterator raised), and
        PoolBusy when no connection came free within the wait timeout.
        """
        length = len(body) if isinstance(body, bytes) else None
        streamed = body is not None and length is None
        head = head_for(method, target, self.host_header, headers, length, streamed, self.authorization)
        retry = (body is None or isinstance(body, bytes)) and method in IDEMPOTENT
        while True:
            conn = await self._acquire()
            response = OriginResponse(conn, self.read_timeout)
            conn.begin(response, method == "HEAD")
            try:
                if body is None or isinstance(body, bytes):
                    if body and len(body) > _ONE_WRITE:
                        conn.write(head)  # a large body: two writes rather than a copy of it
                        conn.write(body)
                    else:
                        conn.write(head + body if body else head)
                    conn.sent()
                else:
                    await self._stream(conn, head, body, headers.get("Content-Length"))
                await response.head()
                return response
            except BodyFailed:
                response.close()
                raise
            except Broken:
                response.close()
                if retry and conn.exchanges > 1 and conn.unanswered():
                    retry = False
                    continue
                raise
            except BaseException:
                response.close()
                raise

    async def _stream(
        self, conn: OriginConnection, head: bytes, body: AsyncIterable[bytes], length: str | None
    ) -> None:
        """Send a streamed body: raw up to its Content-Length, else chunked; stops if the origin answers.

        The head goes out with the first piece (one write, and nothing at all if the body fails first)."""
        chunked = length is None
        declared = -1 if length is None else int(length)
        sent = 0
        pending = head
        iterator = aiter(body)
        try:
            while conn.writable():
                try:
                    piece = await anext(iterator)
                except StopAsyncIteration:
                    break
                except Exception as e:
                    raise BodyFailed("the request body broke off") from e
                if not piece or not conn.writable():
                    continue
                sent += len(piece)
                conn.write(pending + (chunk(piece) if chunked else piece))
                pending = b""
                await conn.drain(self.read_timeout)
            else:
                return  # the origin answered (or closed) before the whole body went out
            if not chunked and sent != declared:
                raise Broken("the request body did not match its Content-Length")
            if chunked or pending:
                conn.write(pending + LAST_CHUNK if chunked else pending)
            conn.sent()
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()

    # --- the pool --------------------------------------------------------------------------------------

    async def _acquire(self) -> OriginConnection:
        deadline: float | None = None
        while self._busy >= self.size:
            loop = asyncio.get_running_loop()
            if deadline is None and self.wait_timeout is not None:
                deadline = loop.time() + self.wait_timeout
            waiter = loop.create_future()
            self._waiters.append(waiter)
            timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
            try:
                await waiter
            except PoolBusy:
                raise
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken and cancelled at once: pass the turn on
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        self._busy += 1
        try:
            return await self._take() or await self._connect()
        except BaseException:
            self._busy -= 1
            self._wake_one()
            raise

    async def _take(self) -> OriginConnection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self.idle_timeout:
                if now - conn.idle_since > _SETTLE_AFTER:
                    await asyncio.sleep(0)  # one turn for the loop to poll, one for it to run the reader
                    await asyncio.sleep(0)
                transport = conn.transport
                if conn.alive and transport is not None and not transport.is_closing():
                    return conn
            conn.close()
        return None

    async def _connect(self) -> OriginConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: OriginConnection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl is not None else None,
                )
        except TimeoutError as e:
            raise UpstreamTimeout("connecting to the origin timed out") from e
        except OSError as e:  # refused, unreachable, not resolved; ssl.SSLError (certificate) is one too
            raise ConnectFailed(f"cannot connect to the origin: {type(e).__name__}") from e
        if self._closed:
            conn.close()
            raise ConnectFailed("the pool is closed")
        self._all.add(conn)
        return conn

    def put_back(self, conn: OriginConnection) -> None:
        """The exchange ended cleanly: the connection waits for the next request."""
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        if self._closed:
            conn.close()
        else:
            self._idle.append(conn)
        if self._sweep is None:
            self._sweep = loop.call_later(self.idle_timeout, self._expire_idle)
        self._busy -= 1
        self._wake_one()

    def release(self, conn: OriginConnection) -> None:
        """The exchange ended and the connection is closed."""
        self._busy -= 1
        self._wake_one()

    def forget(self, conn: OriginConnection) -> None:
        """The connection is gone (closed by either side)."""
        self._all.discard(conn)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _expire_idle(self) -> None:
        """Close connections idle for idle_timeout; come back when the next one will be."""
        self._sweep = None
        now = asyncio.get_running_loop().time()
        kept = []
        for conn in self._idle:
            if conn.alive and now - conn.idle_since < self.idle_timeout:
                kept.append(conn)
            else:
                conn.close()
        self._idle = kept
        if kept:
            due = kept[0].idle_since + self.idle_timeout
            self._sweep = asyncio.get_running_loop().call_at(due, self._expire_idle)
