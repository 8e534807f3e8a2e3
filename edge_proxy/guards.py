"""Connection-level limits on the client side: header size and count, header read time, open connections.

aiohttp itself enforces the header line, field and count limits (answering 400 with no handler run); it
has no time limit on reading a request head and no cap on open connections, so `guard_factory` wraps its
protocol factory (serving.py opens the listening server with the wrapped factory): each connection gets
`header_timeout` seconds from its opening (and from the end of each response plus the keep-alive idle
time) until its request head has been read, else it is closed; a connection beyond `max_connections` is
answered 503 and closed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from aiohttp import web


class RunnerOptions(TypedDict, total=False):
    """The AppRunner keyword arguments ClientLimits sets (typed, so a misspelt one fails the type check)."""

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
        """What aiohttp's AppRunner enforces itself."""
        return {
            "max_line_size": self.max_header_bytes,
            "max_field_size": self.max_header_bytes,
            "max_headers": self.max_headers,
        }


class _Guarded(asyncio.Protocol):
    """Wraps aiohttp's per-connection protocol: counts the connection, times its request heads."""

    def __init__(self, guard: _Guard, inner: asyncio.Protocol) -> None:
        self._guard, self._inner = guard, inner
        self._transport: asyncio.Transport | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport's methods without subclassing it (no isinstance)
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if len(self._guard.open) >= self._guard.limits.max_connections:
            transport.write(_BUSY)
            transport.close()
            return
        self._admitted = True
        self._guard.open[transport] = None
        self._guard.arm(transport, self._guard.limits.header_timeout)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        assert self._transport is not None
        self._guard.disarm(self._transport)
        self._guard.open.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Guard:
    def __init__(self, limits: ClientLimits, idle: float) -> None:
        self.limits, self.idle = limits, idle
        self.open: dict[asyncio.Transport, asyncio.TimerHandle | None] = {}

    def arm(self, transport: asyncio.Transport, seconds: float) -> None:
        self.disarm(transport)
        self.open[transport] = asyncio.get_running_loop().call_later(seconds, transport.close)

    def disarm(self, transport: asyncio.Transport) -> None:
        timer = self.open.get(transport)
        if timer is not None:
            timer.cancel()
            self.open[transport] = None

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        transport = request.transport
        if transport is not None and transport in self.open:  # the head is in: the body has its own limit
            self.disarm(transport)
        try:
            return await handler(request)
        finally:
            if transport is not None and transport in self.open:
                self.arm(transport, self.idle + self.limits.header_timeout)


def guard_app(app: web.Application, limits: ClientLimits, idle: float) -> _Guard:
    """Install the guard's middleware on `app` (before it is started); wrap the server with the result."""
    guard = _Guard(limits, idle)
    app.middlewares.append(guard.middleware)
    return guard


def guard_factory(guard: _Guard, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
    """A protocol factory that guards every connection `factory` serves."""
    return lambda: _Guarded(guard, factory())
