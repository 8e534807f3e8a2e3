"""Listening sockets (the one `start_site`, for the proxy and the sample origin alike): plain or TLS, client
keep-alive idle limit, connection guards, graceful shutdown, waiting for SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .errors import ProxyError
from .guards import ClientLimits, guard_app, guard_factory


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from PEM files; ProxyError says which file is unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as e:
        raise ProxyError(f"cannot load TLS certificate {cert} with key {key}: {e}") from e
    return context


@dataclass(frozen=True, slots=True)
class Listener:
    """One app being served: aiohttp's runner (request handling, the app's lifecycle) and the asyncio
    server that accepts its connections.

    Why we open the listening server ourselves rather than through an aiohttp site: the proxy's guard
    wraps every connection (guards.py), which aiohttp's sites offer no public way to do, and the bound port
    (port 0) is read from the server's sockets, which asyncio makes public. aiohttp's `web.Server` is a
    protocol factory made for `loop.create_server`, as its low-level server documentation shows.
    """

    runner: web.AppRunner
    server: asyncio.Server
    url: str

    def stop_accepting(self) -> None:
        """Close the listening sockets; connections already open are served on."""
        self.server.close()

    async def cleanup(self) -> None:
        """Stop accepting, then shut the app down (aiohttp closes idle connections, then the app)."""
        self.stop_accepting()
        await self.runner.cleanup()


async def start_site(
    app: web.Application,
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
) -> tuple[Listener, str]:
    """Serve `app` on host:port (0: any free port); returns the listener (cleanup() drains in-flight
    requests) and the base URL. OSError when host:port cannot be listened on (nothing is left running).

    `client_limits` (the proxy's listener) bounds header size and count, header read time and connections.
    `auto_decompress` stays False for the proxy, which decides itself what to do with a compressed body;
    an application that wants aiohttp to inflate request bodies (the sample origin) asks for True.
    """
    guard = guard_app(app, client_limits, keepalive_timeout) if client_limits else None
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        auto_decompress=auto_decompress,
        keepalive_timeout=keepalive_timeout,
        shutdown_timeout=shutdown_timeout,
        lingering_time=lingering_time,  # seconds spent discarding the rest of a refused body
        **(client_limits.runner_options() if client_limits else {}),
    )
    await runner.setup()
    handler = runner.server
    assert handler is not None  # set by setup()
    factory = guard_factory(guard, handler) if guard else handler
    try:
        server = await asyncio.get_running_loop().create_server(
            factory,
            host,
            port,
            ssl=ssl_context,
            reuse_address=True,
            reuse_port=reuse_port or None,  # several worker processes on one port (workers.py)
        )
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = server.sockets[0].getsockname()[1] if server.sockets else port
    scheme = "https" if ssl_context else "http"
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{bound_port}"
    return Listener(runner, server, url), url


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
    await runner.cleanup()


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
