"""One keep-alive connection to the origin: the asyncio driver around the sans-IO `ClientProtocol`.

It moves bytes and nothing else: what the origin sends goes to `ClientProtocol.receive`, and each event
that comes back is acted on (the response fed, the connection handed back to the pool, closed or cut);
what the pool writes goes to the transport. Every protocol decision (framing, keep-alive, faults, what a
byte out of turn means) is the protocol's and its state machine's (protocol.py, state.py). What is left
here is flow control: the origin's reading paused while the response's buffer is full, and our writing
waiting while the origin does not read.

An exchange starts with `begin` and ends exactly once, in `_end`: on a complete response, handing the
connection back to the pool when the protocol says it is reusable; on anything else closing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from .errors import Broken, UpstreamTimeout
from .events import Ended, Event, Failed, Head
from .protocol import ClientProtocol
from .response import OriginResponse
from .state import CLOSED, RETRYABLE, WRITABLE


class Pool(Protocol):
    """What a connection needs from its pool (pool.py)."""

    def put_back(self, conn: OriginConnection) -> None: ...
    def release(self, conn: OriginConnection) -> None: ...
    def forget(self, conn: OriginConnection) -> None: ...


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("the origin stopped reading the request"))


class OriginConnection(asyncio.Protocol):
    """One connection; at most one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.protocol = ClientProtocol()
        self._machine = self.protocol.machine
        # the whole request went out (only then may the connection be reused): the protocol's own move,
        # bound here rather than wrapped in a method (one call per request instead of two)
        self.sent: Callable[[], None] = self.protocol.sent
        self.exchanges = 0  # exchanges begun: more than one means this connection was reused
        self.idle_since = 0.0
        self._response: OriginResponse | None = None
        self._write_paused = False
        self._read_paused = False
        self._drain: asyncio.Future[None] | None = None

    @property
    def alive(self) -> bool:
        """Connected, and neither side has closed."""
        return self._machine.state is not CLOSED and self.transport is not None

    # --- the exchange ----------------------------------------------------------------------------------

    def begin(self, response: OriginResponse, head_only: bool) -> None:
        self.exchanges += 1
        self._response = response
        events = self.protocol.begin(head_only)
        if events:  # closed while pooled: the exchange fails now, not at the read timeout
            self._handle(events)

    def unanswered(self) -> bool:
        """The exchange failed before a byte of an answer came (an idempotent request may be retried)."""
        machine = self._machine
        return machine.state is CLOSED and machine.closed_from in RETRYABLE

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and self._machine.state is not CLOSED:  # a closed one's has failed already
            transport.write(data)

    def writable(self) -> bool:
        """The request may go on: connected, and the origin has not answered yet."""
        return self._machine.state in WRITABLE and self.transport is not None

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
        self.protocol.cut()
        self._end(False, Broken("the exchange was cut"), abort=True)

    def close(self) -> None:
        self.protocol.cut()
        self._end(False, Broken("the connection was closed"))
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

    def _handle(self, events: list[Event]) -> None:
        """Act on what the protocol says, in order."""
        for event in events:
            response = self._response
            if type(event) is bytes:
                if response is not None:
                    response.got_body(event)
            elif type(event) is Head:
                if response is not None:
                    response.got_head(event)
                if self._drain is not None:
                    self._wake_drain()  # an answer before the request was all sent ends the upload
            elif type(event) is Ended:
                if response is not None:
                    response.finished()
                self._end(event.reuse)
            elif type(event) is Failed:
                self._end(False, Broken(event.reason), abort=event.abort)
            else:  # OUT_OF_TURN: the origin spoke with no exchange under way, it cannot be trusted again
                if self.transport is not None:
                    self.transport.close()

    def _end(self, reuse: bool, error: Broken | None = None, abort: bool = False) -> None:
        response = self._response
        if response is None:
            return
        self._response = None
        self._wake_drain()
        if error is not None:
            response.failed(error)
        if reuse:
            self.resume_reading()
            self.pool.put_back(self)
            return
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self.pool.release(self)

    # --- asyncio callbacks -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        events = self.protocol.receive(data)
        if len(events) == 1 and type(events[0]) is bytes:  # the common case mid-body: one more piece
            response = self._response
            if response is not None:
                response.got_body(events[0])
            return
        self._handle(events)

    def eof_received(self) -> bool | None:
        self._handle(self.protocol.receive_eof())
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._handle(self.protocol.receive_eof(exc))
        self._wake_drain()
        self.pool.forget(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    def _wake_drain(self) -> None:
        waiter = self._drain
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
