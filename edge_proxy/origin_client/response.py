"""One response from the origin as the proxy reads it: its head, then its body piece by piece.

The connection (connection.py) feeds it the protocol's events; the relay reads it. Between them sits a
small buffer: when more than `HIGH_WATER` bytes wait because the client takes them slowly, the
connection stops reading from the origin until the relay has taken them, so memory stays bounded
whatever the response's size. Every wait (for the head, for the next piece) is bounded by the read
timeout: the origin's silence, not the response's total length, is what is limited.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from multidict import CIMultiDict

from .errors import Broken, UpstreamError, UpstreamTimeout
from .events import Head

HIGH_WATER = 256 * 1024  # bytes of body buffered before reading from the origin pauses


class Source(Protocol):
    """What a response needs from its connection (connection.py), which imports this module."""

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def abort(self) -> None: ...


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("the origin stayed silent for the read timeout"))


class OriginResponse:
    """Status, reason, headers (as received) and the body of one origin response."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_error",
        "_paused",
        "_timeout",
        "_waiter",
        "close_delimited",
        "complete",
        "content_length",
        "headers",
        "reason",
        "status",
    )

    def __init__(self, conn: Source, read_timeout: float) -> None:
        self.status = 0  # 0 until the final (non-1xx) head has arrived
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.content_length: int | None = None  # the origin's Content-Length, None when chunked or absent
        self.close_delimited = False  # the body ends when the origin closes the connection
        self.complete = False  # the whole body has arrived
        self._conn: Source | None = conn
        self._timeout = read_timeout
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # --- fed by the connection -------------------------------------------------------------------------

    def got_head(self, head: Head) -> None:
        self.status, self.reason, self.headers, self.content_length, self.close_delimited = head
        self._wake()

    def got_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self._conn is not None:
            self._paused = True
            self._conn.pause_reading()
        self._wake()

    def finished(self) -> None:
        """The whole body is here; the connection is no longer ours."""
        self.complete = True
        self._conn = None
        self._wake()

    def failed(self, error: UpstreamError) -> None:
        if not self.complete and self._error is None:
            self._error = error
            self._conn = None
            self._wake()

    @property
    def buffered(self) -> int:
        """Body bytes received and not yet read."""
        return self._buffered

    # --- read by the proxy -----------------------------------------------------------------------------

    async def head(self) -> None:
        """Wait for the final response head; Broken or UpstreamTimeout if it does not come."""
        while not self.status:
            if self._error is not None:
                raise self._error
            await self._wait()

    def body_if_complete(self, limit: int) -> bytes | None:
        """The whole body when it has all arrived and is at most `limit` bytes, else None."""
        if not self.complete or self._buffered > limit:
            return None
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return data

    async def read(self) -> bytes:
        """Every body byte buffered so far (waiting for some), b"" at the end; UpstreamError if it broke."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self.complete:
                return b""
            await self._wait()
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            if self._conn is not None:
                self._conn.resume_reading()
        return data

    def close(self) -> None:
        """Done with this response: an unfinished one cuts its connection (it cannot be reused)."""
        conn, self._conn = self._conn, None
        if conn is not None and not self.complete:
            if self._error is None:
                self._error = Broken("the response was abandoned")
            conn.abort()

    async def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self._timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
