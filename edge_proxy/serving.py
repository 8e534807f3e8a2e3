"""Listening sockets for the proxy: plain or TLS, client keep-alive idle limit, graceful shutdown."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import ProxyError
from .guards import ClientLimits, GuardedSite, guard_app


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from PEM files; ProxyError says which file is unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as e:
        raise ProxyError(f"cannot load TLS certificate {cert} with key {key}: {e}") from e
    return context


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
) -> tuple[web.AppRunner, str]:
    """Serve `app` on host:port; returns the runner (cleanup() drains in-flight requests) and base URL.

    `client_limits` (the proxy's listener) bounds header size and count, header read time and connections.
    """
    guard = guard_app(app, client_limits, keepalive_timeout) if client_limits else None
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        auto_decompress=False,  # the proxy decides what to do with a compressed body, not the server
        keepalive_timeout=keepalive_timeout,
        shutdown_timeout=shutdown_timeout,
        lingering_time=lingering_time,  # seconds spent discarding the rest of a refused body
        **(client_limits.runner_options() if client_limits else {}),
    )
    await runner.setup()
    site_options: dict[str, Any] = {
        "ssl_context": ssl_context,
        "reuse_address": True,
        "reuse_port": reuse_port or None,  # several worker processes on one port (fle/workers.py)
    }
    site = (
        GuardedSite(runner, host, port, guard, **site_options)
        if guard
        else web.TCPSite(runner, host, port, **site_options)
    )
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    sockets = server.sockets if server is not None else []  # type: ignore[union-attr]
    bound_port = sockets[0].getsockname()[1] if sockets else port
    scheme = "https" if ssl_context else "http"
    shown = f"[{host}]" if ":" in host else host
    return runner, f"{scheme}://{shown}:{bound_port}"


async def drain(runner: web.AppRunner, busy: Callable[[], bool], timeout: float) -> None:
    """Stop accepting connections, let requests in progress finish for at most `timeout` seconds, cut
    those still running, then shut `runner` down (closing idle keep-alive connections).

    aiohttp's runner.cleanup() alone is not enough: from its first step it ignores bytes arriving on
    open connections, so a request whose body was still being uploaded would stall until the timeout
    and fail. Waiting here first, with the listening sockets closed, lets such uploads complete.
    Meanwhile a kept-alive connection may still bring a request; it is answered like the others.
    """
    for site in list(runner.sites):
        await site.stop()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while busy() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if busy() and runner.server is not None:
        runner.server.pre_shutdown()
        await runner.server.shutdown(0.05)  # cancel the handlers still running, briefly await their ends
    await runner.cleanup()
