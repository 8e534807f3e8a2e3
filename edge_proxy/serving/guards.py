"""Connection-level limits on the client side: header size and count, header read time, open connections
(in all, and per client address).

aiohttp itself enforces the header line, field and count limits (answering 400 with no handler run); it
has no time limit on reading a request head and no cap on open connections, so `GuardedServer` (the
low-level server serving.py listens with when limits are given) adds them: each connection gets
`header_timeout` seconds from its opening (and from the end of each response plus the keep-alive idle
time) until its request head has been read, else it is closed; a connection beyond `max_connections` is
answered 503 and closed at once, and one beyond `max_client_connections` from the same client address
429 (so that one address, however many connections it opens, leaves room under `max_connections` for
everyone else: docs/reliability.md#isolation-under-slow-clients). An HTTP/1.1 connection carries one
request at a time, so the per-address connection cap is also its cap on concurrent requests.
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
_TOO_MANY = b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """Limits on what one client connection may hold; the defaults suit browsers and API clients."""

    max_header_bytes: int = 8190  # one request line or header field (aiohttp's max_line/field_size)
    max_headers: int = 100  # header fields in one request
    header_timeout: float = 10.0  # seconds to send a complete request head
    max_connections: int = 1024  # client connections open at once, per process
    # connections open at once from one client address, per process (0: no per-address limit); behind a
    # load balancer every connection comes from its address: raise it, or set 0
    max_client_connections: int = 256

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_headers", "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        value = self.max_client_connections
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"max_client_connections must be a whole number, 0 or more, not {value!r}")
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
        refused: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(self._timed, **kwargs)
        self.inner = handler
        self.limits = limits
        self.refused = refused  # told the limit ("max_connections", "max_client_connections") per refusal
        self.per_client: dict[str, int] = {}  # open connections by client address
        self.address: dict[web.RequestHandler, str] = {}
        self.after_response = idle + limits.header_timeout
        self.open: dict[web.RequestHandler, asyncio.Transport] = {}
        self.deadlines: dict[web.RequestHandler, float] = {}  # connections waiting for a request head
        self.interval = min(limits.header_timeout / 4, 1.0)
        self.clock = asyncio.get_running_loop().time
        self.sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        if len(self.open) >= self.limits.max_connections:
            self._refuse(transport, _BUSY, "max_connections")
            return
        if self.limits.max_client_connections:
            peer = transport.get_extra_info("peername")
            address = peer[0] if isinstance(peer, tuple) else str(peer)
            count = self.per_client.get(address, 0)
            if count >= self.limits.max_client_connections:
                self._refuse(transport, _TOO_MANY, "max_client_connections")
                return
            self.per_client[address] = count + 1
            self.address[handler] = address
        super().connection_made(handler, transport)
        self.open[handler] = transport
        self.deadlines[handler] = self.clock() + self.limits.header_timeout
        if self.sweeper is None:
            self.sweeper = asyncio.get_running_loop().call_later(self.interval, self.sweep)

    def _refuse(self, transport: asyncio.Transport, answer: bytes, limit: str) -> None:
        transport.write(answer)
        transport.close()  # aiohttp's protocol sees connection_lost next; the server never counted it
        if self.refused is not None:
            self.refused(limit)

    def connection_lost(self, handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        if self.open.pop(handler, None) is not None:
            self.deadlines.pop(handler, None)
            address = self.address.pop(handler, None)
            if address is not None:
                left = self.per_client[address] - 1
                if left:
                    self.per_client[address] = left
                else:
                    del self.per_client[address]
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
        self.sweeper = asyncio.get_running_loop().call_later(self.interval, self.sweep) if self.open else None

    def stop_sweeping(self) -> None:
        """The listener is shut down: no sweep is left scheduled on the loop."""
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
