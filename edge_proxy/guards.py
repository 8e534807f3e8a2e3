"""Connection-level limits on the client side: header size and count, header read time, open connections.

aiohttp itself enforces the header line, field and count limits (answering 400 with no handler run); it
has no time limit on reading a request head and no cap on open connections, so `GuardedServer` (the
low-level server serving.py listens with when limits are given) adds them: each connection gets
`header_timeout` seconds from its opening (and from the end of each response plus the keep-alive idle
time) until its request head has been read, else it is closed; a connection beyond `max_connections` is
answered 503 and closed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from aiohttp import web


class RunnerOptions(TypedDict, total=False):
    """The web.Server keyword arguments ClientLimits sets (typed, so a misspelt one fails the type check)."""

    max_line_size: int
    max_field_size: int
    max_headers: int


_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """Limits on what one client connection may hold; the defaults suit browsers and API clients."""

    max_header_bytes: int = 8190  # one request line or header field (aiohttp's max_line/field_size)
    max_headers: int = 100  # header fields in one request
    header_timeout: float = 10.0  # seconds to send a complete request head
    max_connections: int = 1024  # client connections open at once, per process

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_headers", "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        if not self.header_timeout > 0:
            raise ValueError("timeout header_timeout must be greater than 0 seconds")

    def runner_options(self) -> RunnerOptions:
        """What aiohttp's server enforces itself."""
        return {
            "max_line_size": self.max_header_bytes,
            "max_field_size": self.max_header_bytes,
            "max_headers": self.max_headers,
        }


class GuardedServer(web.Server):
    """aiohttp's low-level server with the connection limits: counts connections, times request heads.

    The limits hook the server's public per-connection callbacks (connection_made and connection_lost,
    which aiohttp's protocol calls once per connection) and one wrapper around the request handler; no
    Python code runs per received chunk. A connection's deadline is set when it opens and again after each
    response (keep-alive idle plus header_timeout), and cleared when a request head has arrived (the
    handler runs: the body has its own idle limit). One periodic sweep, every header_timeout/4 (at most
    1 s), closes the connections whose deadline has passed, instead of a timer per request; it runs only
    while connections are open.
    """

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        limits: ClientLimits,
        idle: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(self._timed, **kwargs)
        self.inner = handler
        self.limits = limits
        self.after_response = idle + limits.header_timeout
        self.open: dict[web.RequestHandler, asyncio.Transport] = {}
        self.deadlines: dict[web.RequestHandler, float] = {}  # connections waiting for a request head
        self.interval = min(limits.header_timeout / 4, 1.0)
        self.clock = asyncio.get_running_loop().time
        self.sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        if len(self.open) >= self.limits.max_connections:
            transport.write(_BUSY)
            transport.close()  # aiohttp's protocol sees connection_lost next; the server never counted it
            return
        super().connection_made(handler, transport)
        self.open[handler] = transport
        self.deadlines[handler] = self.clock() + self.limits.header_timeout
        if self.sweeper is None:
            self.sweeper = asyncio.get_running_loop().call_later(self.interval, self.sweep)

    def connection_lost(self, handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        if self.open.pop(handler, None) is not None:
            self.deadlines.pop(handler, None)
        super().connection_lost(handler, exc)

    async def _timed(self, request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        self.deadlines.pop(protocol, None)  # the head is in
        try:
            return await self.inner(request)
        finally:
            if protocol in self.open:
                self.deadlines[protocol] = self.clock() + self.after_response

    def sweep(self) -> None:
        """Close every connection past its deadline; run again while any connection is open."""
        now = self.clock()
        late = [handler for handler, deadline in self.deadlines.items() if deadline <= now]
        for handler in late:
            del self.deadlines[handler]
            self.open[handler].close()
        self.sweeper = (
            asyncio.get_running_loop().call_later(self.interval, self.sweep) if self.open else None
        )

    def stop_sweeping(self) -> None:
        """The listener is shut down: no sweep is left scheduled on the loop."""
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
