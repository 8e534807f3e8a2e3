"""`fle proxy --config DIR --origin URL --listen HOST:PORT [--admin HOST:PORT] [--tls-cert C --tls-key K]`

Three steps, kept apart so that other ways of running the proxy (several workers) can reuse them:
`build_settings` turns arguments into ProxySettings, `ListenOptions.from_args` says where and how to listen,
and `serve_proxy` runs one proxy (and its admin listener) until SIGTERM, reloading the config on SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yarl import URL

from edge_proxy import (
    ClientLimits,
    ConfigSource,
    Limits,
    ProxyError,
    ProxySettings,
    Runtime,
    Timeouts,
    build_admin_app,
    build_app,
    drain,
    logscrub,
    reload_config,
    start_site,
    tls_context,
    workers,
)
from edge_proxy.parent_admin import AdminServer, workers_admin
from edge_proxy.shared_metrics import SharedMetrics
from profiles import ConfigError, load_config_dir

from . import cli, serve

log = logging.getLogger("fle")
_DEFAULT_LIMITS = Limits()
_DEFAULT_TIMEOUTS = Timeouts()
_DEFAULT_CLIENT = ClientLimits()


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("proxy", help="run the field-level encryption edge proxy")
    p.add_argument("--config", required=True, metavar="DIR", help="directory of CloudFront FLE JSON files")
    p.add_argument(
        "--config-id", metavar="ID", help="which FieldLevelEncryption config (if the directory has several)"
    )
    p.add_argument(
        "--origin", required=True, metavar="URL", help="origin base URL, e.g. http://127.0.0.1:8081"
    )
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    p.add_argument(
        "--admin",
        default="127.0.0.1:9180",
        metavar="HOST:PORT",
        help="admin listener for /healthz, /readyz, /metrics ('off' to disable)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument(
        "--access-log", default="-", metavar="PATH", help="JSON access log file ('-': stdout, 'off')"
    )
    limits = p.add_argument_group("limits (defaults: CloudFront's field-level encryption quotas)")
    limits.add_argument("--max-body-bytes", type=int, default=_DEFAULT_LIMITS.max_body_bytes, metavar="N")
    limits.add_argument("--max-field-bytes", type=int, default=_DEFAULT_LIMITS.max_field_bytes, metavar="N")
    limits.add_argument(
        "--max-encrypted-fields", type=int, default=_DEFAULT_LIMITS.max_encrypted_fields, metavar="N"
    )
    times = p.add_argument_group("timeouts, in seconds")
    times.add_argument(
        "--origin-connect-timeout", type=float, default=_DEFAULT_TIMEOUTS.origin_connect, metavar="S"
    )
    times.add_argument(
        "--origin-read-timeout", type=float, default=_DEFAULT_TIMEOUTS.origin_read, metavar="S"
    )
    times.add_argument(
        "--client-idle-timeout", type=float, default=_DEFAULT_TIMEOUTS.client_idle, metavar="S"
    )
    times.add_argument("--shutdown-timeout", type=float, default=_DEFAULT_TIMEOUTS.shutdown, metavar="S")
    client = p.add_argument_group("client connections")
    client.add_argument("--max-header-bytes", type=int, default=_DEFAULT_CLIENT.max_header_bytes, metavar="N")
    client.add_argument("--max-headers", type=int, default=_DEFAULT_CLIENT.max_headers, metavar="N")
    client.add_argument("--header-timeout", type=float, default=_DEFAULT_CLIENT.header_timeout, metavar="S")
    client.add_argument("--max-connections", type=int, default=_DEFAULT_CLIENT.max_connections, metavar="N")
    p.add_argument(
        "--workers",
        type=int,
        default=workers.default_workers(),
        metavar="N",
        help="worker processes sharing the port with SO_REUSEPORT (default: the number of cores); "
        "one admin listener (--admin) serves all of them",
    )
    p.set_defaults(run=run)


def proxy_settings(
    config_dir: str,
    origin: str,
    config_id: str | None = None,
    *,
    limits: Limits | None = None,
    timeouts: Timeouts | None = None,
) -> ProxySettings:
    """Load and check everything the proxy needs; CliError with the file and JSON path on bad config."""
    try:
        config = load_config_dir(config_dir).only_config(config_id)
    except ConfigError as e:
        raise cli.CliError(str(e)) from e
    url = URL(origin)
    if url.scheme not in ("http", "https") or not url.host:
        raise cli.CliError(f"--origin {origin!r}: expected an http:// or https:// URL")
    return ProxySettings(
        origin=url,
        config=config,
        limits=limits or Limits(),
        timeouts=timeouts or Timeouts(),
        source=ConfigSource(Path(config_dir), config_id),
    )


def build_settings(args: argparse.Namespace) -> ProxySettings:
    """ProxySettings from parsed `fle proxy` arguments."""
    try:
        limits = Limits(args.max_body_bytes, args.max_field_bytes, args.max_encrypted_fields)
        timeouts = Timeouts(
            origin_connect=args.origin_connect_timeout,
            origin_read=args.origin_read_timeout,
            client_idle=args.client_idle_timeout,
            shutdown=args.shutdown_timeout,
        )
        client = ClientLimits(
            args.max_header_bytes, args.max_headers, args.header_timeout, args.max_connections
        )
    except ValueError as e:
        raise cli.CliError(str(e)) from e
    settings = proxy_settings(args.config, args.origin, args.config_id, limits=limits, timeouts=timeouts)
    return dataclasses.replace(settings, client=client)


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """Where the proxy and its admin listener accept connections, and with which TLS context."""

    host: str
    port: int
    admin: tuple[str, int] | None
    tls: ssl.SSLContext | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ListenOptions:
        if bool(args.tls_cert) != bool(args.tls_key):
            raise cli.CliError("--tls-cert and --tls-key go together")
        try:
            host, port = serve.parse_listen(args.listen)
            admin = None if args.admin == "off" else serve.parse_listen(args.admin)
            tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        except (ValueError, ProxyError) as e:
            raise cli.CliError(str(e)) from e
        return cls(host, port, admin, tls)


def configure_access_log(target: str) -> None:
    """Access-log lines are bare JSON, one per request, apart from the diagnostic log on stderr."""
    access = logging.getLogger("edge_proxy.access")
    access.propagate = False
    if target == "off":
        access.disabled = True
        return
    handler = logging.StreamHandler(sys.stdout) if target == "-" else logging.FileHandler(target)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)


async def serve_proxy(
    settings: ProxySettings,
    listen: ListenOptions,
    *,
    reuse_port: bool = False,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Run the proxy until SIGINT/SIGTERM, then drain: stop accepting, finish in-flight requests.

    With `reuse_port` several processes serve one port (see edge_proxy/workers.py); `on_listening` is called
    once the proxy and admin sites accept connections.
    """
    runtime = Runtime(settings)
    t = settings.timeouts
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def on_hangup() -> None:
        task = loop.create_task(reload_config(runtime))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)  # before "listening" is logged: no window to die in
    with serve.listening(listen.host, listen.port, "--listen"):
        runner, url = await start_site(
            build_app(runtime),
            listen.host,
            listen.port,
            ssl_context=listen.tls,
            keepalive_timeout=t.client_idle,
            shutdown_timeout=t.shutdown,
            reuse_port=reuse_port,
            client_limits=settings.client,
        )
    admin_runner = None
    if listen.admin is not None:
        try:
            with serve.listening(*listen.admin, "--admin (or --admin off)"):
                admin_runner, admin_url = await start_site(build_admin_app(runtime), *listen.admin)
        except serve.ListenError:
            await runner.cleanup()
            raise
        log.info("admin listening on %s (/healthz /readyz /metrics)", admin_url)
    log.info("proxy listening on %s, forwarding to %s (config %s)", url, settings.origin, settings.config.id)
    if on_listening is not None:
        on_listening()

    try:
        await serve.until_signalled()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        runtime.draining = True
        log.info("draining: finishing in-flight requests (at most %.0f s)", t.shutdown)
        registry = runtime.metrics.registry
        await drain(
            runner, lambda: bool(registry.get_sample_value("fle_proxy_in_flight_requests")), t.shutdown
        )
        if admin_runner is not None:
            await admin_runner.cleanup()
        log.info("proxy stopped")


def run(args: argparse.Namespace) -> int:
    settings = build_settings(args)
    listen = ListenOptions.from_args(args)
    configure_access_log(args.access_log)
    logscrub.install(*logging.getLogger("edge_proxy.access").handlers)  # before any worker forks
    if args.workers != 1:
        return _run_workers(settings, listen, args.workers)
    try:
        return serve.run(lambda: serve_proxy(settings, listen))
    except serve.ListenError as e:
        raise cli.CliError(str(e)) from e


def _run_workers(settings: ProxySettings, listen: ListenOptions, count: int) -> int:
    """`--workers N`: each worker runs serve_proxy on the shared port; the parent serves one admin listener.

    The workers keep their metrics in one run's files (edge_proxy/shared_metrics.py), which the parent's
    /metrics adds up; the workers open no admin listener of their own.
    """
    if count < 1:  # before anything is bound or made
        raise cli.CliError("--workers must be at least 1")
    status = workers.Status(count)
    shared: SharedMetrics | None = None
    admin: AdminServer | None = None
    parent = workers.Parent()
    if listen.admin is not None:
        shared = SharedMetrics()
        admin = _admin_server(listen.admin, status, shared)
        parent = workers.Parent(idle=admin.poll, worker_exited=shared.worker_gone)

    async def serve_worker(slot: workers.WorkerSlot) -> None:
        if admin is not None and shared is not None:  # the parent's: close this copy, write shared files
            admin.forget()
            shared.use_in_this_process()
        mine = dataclasses.replace(listen, port=slot.port, admin=None)
        await serve_proxy(settings, mine, reuse_port=True, on_listening=slot.ready)

    def ready(url: str) -> None:
        if listen.tls is not None:  # the supervisor holds a plain socket; the workers serve TLS on it
            url = "https" + url.removeprefix("http")
        log.info(
            "proxy listening on %s with %d workers, forwarding to %s (config %s)",
            url,
            count,
            settings.origin,
            settings.config.id,
        )

    if admin is not None:
        log.info("admin listening on %s (/healthz /readyz /metrics for all %d workers)", admin.url, count)
    # a worker drains for up to the shutdown timeout after SIGTERM; only then may the parent kill it
    plan = workers.WorkerPlan(listen.host, listen.port, count, stop_timeout=settings.timeouts.shutdown + 5)
    try:
        return workers.run(serve_worker, plan, ready, parent, status)
    except workers.WorkersError as e:
        raise cli.CliError(str(e)) from e
    finally:
        if admin is not None:
            admin.close()
        if shared is not None:
            shared.close()


def _admin_server(address: tuple[str, int], status: workers.Status, shared: SharedMetrics) -> AdminServer:
    try:
        return workers_admin(address, status, shared)
    except OSError as e:
        shared.close()
        raise cli.CliError(
            f"--admin {address[0]}:{address[1]}: cannot listen there ({e.strerror}); "
            "choose another with --admin, or 'off'"
        ) from e
