"""One keep-alive connection to the origin: an asyncio Protocol with httptools (llhttp) reading responses.

An exchange starts with `begin` (a fresh parser, the OriginResponse to fill) and ends exactly once, in
`_end`: on a complete response, handing the connection back to the pool when both sides allow keep-alive
and the request went out whole; on anything else (EOF, reset, malformed bytes, an abandoned response)
closing it. Bytes the origin sends outside an exchange (after a complete response, while idle) make the
connection unusable: we never pipeline, so they can only be a broken or hostile peer.

Framing is llhttp's: Content-Length, chunked, close-delimited, and no body for 1xx, 204 and 304. The two
cases llhttp cannot know are ours: a response to HEAD ends with its head (httptools cannot tell the parser
so; the next exchange gets a fresh parser, and any byte after such a head kills the connection), and a
close-delimited body ends at EOF (httptools has no `finish`). Interim 1xx heads are skipped (100, 102, 103);
101 is an error, since we never ask to switch protocols.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
from multidict import CIMultiDict

from .errors import Broken, UpstreamTimeout
from .response import OriginResponse

MAX_HEAD_BYTES = 64 * 1024  # status line and header fields of one response head, as received


class Pool(Protocol):
    """What a connection needs from its pool (upstream.py)."""

    def put_back(self, conn: OriginConnection) -> None: ...
    def release(self, conn: OriginConnection) -> None: ...
    def forget(self, conn: OriginConnection) -> None: ...


class _OutOfTurn(Exception):
    """A byte the origin sent with no exchange under way."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("the origin stopped reading the request"))


class OriginConnection(asyncio.Protocol):
    """One connection; at most one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.alive = False  # connected, and neither side has closed
        self.exchanges = 0  # exchanges begun: more than one means this connection was reused
        self.idle_since = 0.0
        self.request_sent = False  # the whole request went out (a connection is reused only then)
        self._response: OriginResponse | None = None
        self._parser: HttpResponseParser | None = None
        self._head_only = False
        self._interim = False
        self._reason = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._write_paused = False
        self._read_paused = False
        self._drain: asyncio.Future[None] | None = None

    # --- the exchange ----------------------------------------------------------------------------------

    def begin(self, response: OriginResponse, head_only: bool) -> None:
        self.exchanges += 1
        self.request_sent = False
        self._response = response
        self._parser = HttpResponseParser(self)
        self._head_only = head_only
        self._interim = False
        self._reason = b""
        self._fields = []
        self._head_bytes = 0
        if not self.alive:  # closed before the exchange began: fail it now, not after the read timeout
            self._end(False, Broken("the origin closed the connection"))

    def idle(self) -> bool:
        """No exchange under way."""
        return self._response is None

    def write(self, data: bytes) -> None:
        if self.alive and self.transport is not None:  # a dead one's exchange has failed already
            self.transport.write(data)

    def writable(self) -> bool:
        """The request may go on: connected, and the origin has not answered yet."""
        response = self._response
        return self.alive and response is not None and not response.status

    async def drain(self, timeout: float) -> None:
        """Wait while the origin is not reading what we send (at most `timeout` of it), unless it answers."""
        loop = asyncio.get_running_loop()
        while self._write_paused and self.writable():
            waiter = self._drain = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._drain = None

    def abort(self) -> None:
        """Cut the connection now (an exchange that cannot finish cleanly)."""
        self._end(False, Broken("the exchange was cut"), abort=True)

    def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    def _end(self, reuse: bool, error: Broken | None = None, abort: bool = False) -> None:
        response = self._response
        if response is None:
            return
        self._response = None
        self._wake_drain()
        if error is not None:
            response.failed(error)
        if reuse and self.alive and self.request_sent:
            self.resume_reading()
            self.pool.put_back(self)
            return
        self.alive = False
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self.pool.release(self)

    def _broken(self, reason: str) -> None:
        self._end(False, Broken(reason), abort=True)

    # --- asyncio callbacks -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.alive = True

    def data_received(self, data: bytes) -> None:
        if self._response is None or self._parser is None:
            self.close()  # the origin spoke out of turn: this connection cannot be trusted again
            return
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._broken("the origin switched protocols")
        except HttpParserError as e:
            if isinstance(e.__context__, Broken):
                self._broken(str(e.__context__))
            elif self.idle():
                self.close()  # bytes after a complete response
            else:
                self._broken("the origin's response is not HTTP/1.1")

    def eof_received(self) -> bool | None:
        self._closed_by_origin()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed_by_origin(exc)
        self._wake_drain()
        self.pool.forget(self)

    def _closed_by_origin(self, exc: Exception | None = None) -> None:
        self.alive = False
        response = self._response
        if response is None:
            return
        if exc is None and response.status and response.close_delimited:
            response.finished()  # the end of a close-delimited body
            self._end(False)
        else:
            self._end(False, Broken("the origin closed the connection"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    def _wake_drain(self) -> None:
        waiter = self._drain
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- httptools callbacks ---------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._response is None:
            raise _OutOfTurn
        self._response.started = True

    def on_status(self, status: bytes) -> None:
        self._reason = status
        self._count(len(status))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value))
        self._count(len(name) + len(value))

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise Broken("the origin's response head is too large")

    def on_headers_complete(self) -> None:
        response, parser = self._response, self._parser
        if response is None or parser is None:
            raise _OutOfTurn
        status = parser.get_status_code()
        if status < 200:
            if status == 101:
                raise Broken("the origin switched protocols")
            self._interim = True  # 100 Continue, 102, 103: skipped, the final head follows
            self._reason, self._fields, self._head_bytes = b"", [], 0
            return
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("utf-8", "surrogateescape")) for name, value in self._fields
        )
        self._fields = []
        no_body = self._head_only or status in (204, 304)
        response.got_head(status, self._reason.decode("utf-8", "surrogateescape"), headers, no_body)
        self._wake_drain()  # an answer before the request was all sent ends the upload
        if self._head_only:
            response.finished()
            self._end(parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if self._response is None:
            raise _OutOfTurn
        self._response.got_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response, parser = self._response, self._parser
        if response is None or parser is None:
            raise _OutOfTurn
        response.finished()
        self._end(parser.should_keep_alive())
