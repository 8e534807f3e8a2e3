"""Run the proxy as a process: one event loop (`serve_proxy`) or N pre-forked workers (`run_workers`).

Both run until SIGTERM/SIGINT, then drain (stop accepting, finish in-flight requests); SIGHUP reloads the
configuration. What is left to the command line: turning its arguments into ProxySettings and
ListenOptions, the access log's destination, and the words of its errors (which flag to change).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from edge_proxy.pipeline.app import build_app
from edge_proxy.pipeline.reload import reload_config
from edge_proxy.pipeline.runtime import Runtime
from edge_proxy.pipeline.settings import ProxySettings

from . import workers
from .admin import build_admin_app
from .listen import CannotListen, Listener, drain, start_site, until_signalled
from .loops import ASYNCIO, LoopChoice, running_loop_name
from .prefork import run_prefork

__all__ = ["CannotListen", "ListenOptions", "run_workers", "serve_proxy"]

log = logging.getLogger("fle")  # the name these lines have always carried: operators and tests read them


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """Where the proxy and its admin listener accept connections, and with which TLS context."""

    host: str
    port: int
    admin: tuple[str, int] | None
    tls: ssl.SSLContext | None


async def serve_proxy(
    settings: ProxySettings,
    listen: ListenOptions,
    *,
    reuse_port: bool = False,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Run the proxy until SIGINT/SIGTERM, then drain: stop accepting, finish in-flight requests.

    With `reuse_port` several processes serve one port (see workers.py); `on_listening` is called once the
    proxy and admin listeners accept connections. CannotListen when either cannot be opened.
    """
    runtime = Runtime(settings)
    t = settings.timeouts
    loop = asyncio.get_running_loop()
    log.debug("event loop %s.%s", type(loop).__module__, type(loop).__qualname__)
    reloads: set[asyncio.Task[bool]] = set()

    def on_hangup() -> None:
        task = loop.create_task(reload_config(runtime))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)  # before "listening" is logged: no window to die in
    try:
        listener, url = await start_site(
            build_app(runtime),
            listen.host,
            listen.port,
            ssl_context=listen.tls,
            keepalive_timeout=t.client_idle,
            shutdown_timeout=t.shutdown,
            reuse_port=reuse_port,
            client_limits=settings.client,
            refused=runtime.metrics.count_connection_refused,
        )
    except OSError as e:
        raise CannotListen("proxy", listen.host, listen.port, e) from e
    admin: Listener | None = None
    if listen.admin is not None:
        try:
            admin, admin_url = await start_site(build_admin_app(runtime), *listen.admin)
        except OSError as e:
            await listener.cleanup()
            raise CannotListen("admin", *listen.admin, e) from e
        log.info("admin listening on %s (/healthz /readyz /metrics)", admin_url)
    log.info(
        "proxy listening on %s, forwarding to %s (config %s, %s loop)",
        url,
        settings.origin,
        settings.config.id,
        running_loop_name(),
    )
    if on_listening is not None:
        on_listening()

    try:
        await until_signalled()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        runtime.draining = True
        log.info("draining: finishing in-flight requests (at most %.0f s)", t.shutdown)
        registry = runtime.metrics.registry
        await drain(
            listener, lambda: bool(registry.get_sample_value("fle_proxy_in_flight_requests")), t.shutdown
        )
        if admin is not None:
            await admin.cleanup()
        log.info("proxy stopped")


def run_workers(
    settings: ProxySettings,
    listen: ListenOptions,
    count: int,
    loop: LoopChoice = ASYNCIO,
    on_listening: Callable[[], None] | None = None,
) -> int:
    """`--workers N`: each worker runs serve_proxy on the shared port; the parent serves one admin listener.
    Every worker runs its own event loop of the kind `loop` says.
    Returns the exit code; WorkersError when the workers cannot be run, CannotListen for the admin address.

    The workers keep their metrics in one run's files (shared_metrics.py), which the parent's /metrics adds
    up; the workers open no admin listener of their own (prefork.py, which `fle reveal --workers N` shares).
    """

    async def serve_worker(slot: workers.WorkerSlot) -> None:
        mine = dataclasses.replace(listen, port=slot.port, admin=None)
        await serve_proxy(settings, mine, reuse_port=True, on_listening=slot.ready)

    def ready(url: str) -> None:
        if listen.tls is not None:  # the supervisor holds a plain socket; the workers serve TLS on it
            url = "https" + url.removeprefix("http")
        log.info(
            "proxy listening on %s with %d workers, forwarding to %s (config %s, %s loop)",
            url,
            count,
            settings.origin,
            settings.config.id,
            loop.name,
        )
        if on_listening is not None:
            on_listening()

    # a worker drains for up to the shutdown timeout after SIGTERM; only then may the parent kill it
    stop_timeout = settings.timeouts.shutdown + 5
    return run_prefork(serve_worker, listen.host, listen.port, listen.admin, count, ready,
                       stop_timeout=stop_timeout, loop=loop)  # fmt: skip
