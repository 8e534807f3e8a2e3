"""Start the reveal listener: the edge's one `start_site` (TLS, client limits, keep-alive idle limit), and
run reveal as a process (`serve_reveal`: one process, or one of `fle reveal --workers N`)."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from decryptor import AuditLog, Decryptor
from edge_proxy import CannotListen, Listener, drain, start_site, until_signalled

from .app import Reveal
from .metrics import RevealMetrics
from .routes import RevealConfig
from .settings import RevealSettings

log = logging.getLogger("fle.reveal")
DRAIN_TIMEOUT = 20.0  # seconds in-flight requests get after SIGTERM (+5 in the parent: under the unit's 30)


async def start_reveal(
    config: RevealConfig,
    decryptor: Decryptor,
    audit_log: AuditLog,
    host: str,
    port: int,
    *,
    settings: RevealSettings | None = None,
    ssl_context: ssl.SSLContext | None = None,
    metrics: RevealMetrics | None = None,
    reuse_port: bool = False,
) -> tuple[Listener, str]:
    """Serve reveal on host:port (0: any free port); returns the listener (cleanup() stops it) and URL."""
    settings = settings or RevealSettings()
    return await _start(Reveal(config, decryptor, audit_log, settings, metrics), host, port, settings,
                        ssl_context, reuse_port)  # fmt: skip


async def _start(
    reveal: Reveal,
    host: str,
    port: int,
    settings: RevealSettings,
    ssl_context: ssl.SSLContext | None,
    reuse_port: bool,
) -> tuple[Listener, str]:
    return await start_site(  # the low-level server, as the edge's proxy (app.py says why)
        reveal,
        host,
        port,
        ssl_context=ssl_context,
        keepalive_timeout=settings.client_idle,
        client_limits=settings.client,
        reuse_port=reuse_port,
    )


def admin_app(metrics: RevealMetrics, draining: Callable[[], bool]) -> web.Application:
    """One reveal process's admin listener: /healthz, /readyz (503 once draining), /metrics."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        return web.Response(status=503, text="draining\n") if draining() else web.Response(text="ready\n")

    async def exposition(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", exposition)
    return app


async def serve_reveal(
    config: RevealConfig,
    decryptor: Decryptor,
    audit_log: AuditLog,
    host: str,
    port: int,
    *,
    settings: RevealSettings,
    ssl_context: ssl.SSLContext | None = None,
    admin: tuple[str, int] | None = None,
    reuse_port: bool = False,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Run reveal until SIGINT/SIGTERM, then drain: stop accepting, let in-flight requests finish (at most
    DRAIN_TIMEOUT seconds). CannotListen (role "reveal" or "admin") when an address cannot be listened on.

    SIGHUP is logged and ignored: reveal reads its routes and keystore once, at start (restart it to change
    them); ignoring it keeps a worker of `fle reveal --workers N`, to which the parent passes SIGHUP on,
    from dying of it.
    """
    metrics = RevealMetrics()
    reveal = Reveal(config, decryptor, audit_log, settings, metrics)
    loop = asyncio.get_running_loop()
    draining = False
    loop.add_signal_handler(
        signal.SIGHUP, lambda: log.warning("SIGHUP ignored: reveal reads its routes at start; restart it")
    )
    try:
        try:
            listener, url = await _start(reveal, host, port, settings, ssl_context, reuse_port)
        except OSError as e:
            raise CannotListen("reveal", host, port, e) from e
        admin_listener: Listener | None = None
        if admin is not None:
            try:
                admin_listener, admin_url = await start_site(admin_app(metrics, lambda: draining), *admin)
            except OSError as e:
                await listener.cleanup()
                raise CannotListen("admin", *admin, e) from e
            log.info("admin listening on %s (/healthz /readyz /metrics)", admin_url)
        if on_listening is not None:
            on_listening(url)
        try:
            await until_signalled()
        finally:
            draining = True
            await drain(listener, lambda: reveal.in_flight > 0, DRAIN_TIMEOUT)
            if admin_listener is not None:
                await admin_listener.cleanup()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
