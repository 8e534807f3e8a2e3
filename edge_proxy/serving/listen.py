"""Listening sockets (the one `start_site`, for the proxy, reveal and the sample origin alike): plain or TLS,
client keep-alive idle limit, connection guards, graceful shutdown, waiting for SIGINT/SIGTERM.

Everything is served one way: aiohttp's low-level `web.Server` (our GuardedServer when client limits are
given) calls a Service's handler; an aiohttp Application is adapted into a Service."""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from fields.errors import ProxyError

from .guards import ClientLimits, GuardedServer

# connections the kernel completes before we accept them (asyncio's default is 100): a burst of new
# connections (or a flood of them, docs/reliability.md#isolation-under-slow-clients) beyond it has its
# SYNs dropped, and every client in it, benign or not, waits a second for its retransmission
BACKLOG = 1024


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from PEM files; ProxyError says which file is unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as e:
        raise ProxyError(f"cannot load TLS certificate {cert} with key {key}: {e}") from e
    return context


class CannotListen(Exception):
    """A listener could not be opened: `role` says which ("proxy", "reveal", "admin"), `error` the OSError
    that said why."""

    def __init__(self, role: str, host: str, port: int, error: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({role}): {error.strerror or error}")
        self.role, self.host, self.port, self.error = role, host, port, error


class Service(Protocol):
    """What `start_site` serves: a request handler with a lifecycle. The proxy is one (app.Proxy, served by
    aiohttp's low-level server with no application, router or middleware on its hot path); `start_site`
    makes an aiohttp Application one (`_ApplicationService`)."""

    async def start(self) -> None:
        """Open what the handler needs (called before the listening socket opens)."""

    async def stop(self) -> None:
        """Close it again (called once the connections are shut down)."""

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request."""


class _ApplicationService:
    """An aiohttp Application as a Service: its AppRunner runs the startup and cleanup hooks, and requests
    go to the handler and request factory the runner's server was made with (public attributes of
    aiohttp's `web.Server`), served by our own server like any other service. Its on_shutdown hooks run
    once the connections are shut down (none of our applications has one), its cleanup hooks last, as
    before."""

    def __init__(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self.app_handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] | None = None
        self.request_factory: Any = None  # makes the app's web.Request (with its router's match info)

    async def start(self) -> None:
        await self.runner.setup()
        server = self.runner.server
        assert server is not None  # set by setup()
        self.app_handler, self.request_factory = server.request_handler, server.request_factory

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.app_handler is None:
            raise RuntimeError("the application is not started")
        return await self.app_handler(request)


@dataclass(frozen=True, slots=True)
class Listener:
    """One service being served: aiohttp's low-level server and its runner (connections, shutdown), the
    asyncio server that accepts its connections, and the service (its lifecycle).

    Why we open the listening server ourselves rather than through an aiohttp site: the bound port (port
    0) is read from the server's sockets, which asyncio makes public; aiohttp's `web.Server` is a protocol
    factory made for `loop.create_server`, as its low-level server documentation shows.
    """

    runner: web.ServerRunner
    server: asyncio.Server
    service: Service
    url: str

    def stop_accepting(self) -> None:
        """Close the listening sockets; connections already open are served on."""
        self.server.close()

    async def cleanup(self) -> None:
        """Stop accepting, close idle connections, let running requests end (shutdown_timeout), then stop
        the service (the proxy's origin session, an application's cleanup hooks)."""
        self.stop_accepting()
        web_server = self.runner.server
        try:
            await self.runner.cleanup()
        finally:
            if isinstance(web_server, GuardedServer):
                web_server.stop_sweeping()
            await self.service.stop()


async def start_site(
    service: Service | web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    keepalive_timeout: float = 75.0,
    shutdown_timeout: float = 30.0,
    lingering_time: float = 2.0,
    reuse_port: bool = False,
    client_limits: ClientLimits | None = None,
    auto_decompress: bool = False,
    refused: Callable[[str], None] | None = None,
) -> tuple[Listener, str]:
    """Serve `service` (the proxy, or an aiohttp Application) on host:port (0: any free port); returns the
    listener (cleanup() drains in-flight requests) and the base URL. OSError when host:port cannot be
    listened on (nothing is left running).

    `client_limits` (the proxy's listener) bounds header size and count, header read time and connections;
    `refused` is told which connection limit refused a connection (the proxy counts them).
    `auto_decompress` stays False for the proxy, which decides itself what to do with a compressed body;
    an application that wants aiohttp to inflate request bodies (the sample origin) asks for True.
    """
    if isinstance(service, web.Application):
        service = _ApplicationService(service)
    await service.start()
    try:
        options: dict[str, Any] = {
            "access_log": None,
            "auto_decompress": auto_decompress,
            "keepalive_timeout": keepalive_timeout,
            "lingering_time": lingering_time,  # seconds spent discarding the rest of a refused body
        }
        if isinstance(service, _ApplicationService):
            options["request_factory"] = service.request_factory
        web_server = (
            GuardedServer(
                service.handle,
                limits=client_limits,
                idle=keepalive_timeout,
                refused=refused,
                **options,
                **client_limits.runner_options(),
            )
            if client_limits
            else web.Server(service.handle, **options)
        )
        runner = web.ServerRunner(web_server, handle_signals=False, shutdown_timeout=shutdown_timeout)
        await runner.setup()
        try:
            server = await asyncio.get_running_loop().create_server(
                web_server,
                host,
                port,
                ssl=ssl_context,
                reuse_address=True,
                backlog=BACKLOG,
                reuse_port=reuse_port or None,  # several worker processes on one port (workers.py)
            )
        except BaseException:
            await runner.cleanup()
            raise
    except BaseException:
        await service.stop()
        raise
    bound_port = server.sockets[0].getsockname()[1] if server.sockets else port
    scheme = "https" if ssl_context else "http"
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{bound_port}"
    return Listener(runner, server, service, url), url


async def drain(listener: Listener, busy: Callable[[], bool], timeout: float) -> None:
    """Stop accepting connections, let requests in progress finish for at most `timeout` seconds, cut
    those still running, then shut the listener's runner down (closing idle keep-alive connections).

    aiohttp's runner.cleanup() alone is not enough: from its first step it ignores bytes arriving on
    open connections, so a request whose body was still being uploaded would stall until the timeout
    and fail. Waiting here first, with the listening sockets closed, lets such uploads complete.
    Meanwhile a kept-alive connection may still bring a request; it is answered like the others.
    """
    listener.stop_accepting()
    runner = listener.runner
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while busy() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if busy() and runner.server is not None:
        runner.server.pre_shutdown()
        await runner.server.shutdown(0.05)  # cancel the handlers still running, briefly await their ends
    await listener.cleanup()


async def until_signalled() -> None:
    """Return on the first SIGINT or SIGTERM (the loop's handlers, removed again on the way out)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
