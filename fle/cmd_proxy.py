"""`fle proxy --config DIR --origin URL --listen HOST:PORT [--admin HOST:PORT] [--tls-cert C --tls-key K]`

Thin: `build_settings` turns arguments into ProxySettings, `listen_options` says where and how to listen,
and edge_proxy.serving.process runs the proxy (one process, or `--workers N`) until SIGTERM; this module only
adds the access log's destination and the words of errors (which flag to change).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import logsafe

from . import cli, serve

if TYPE_CHECKING:
    from yarl import URL

    from blindindex.keys import IndexKeys
    from edge_proxy import Limits, ProxySettings, Timeouts
    from edge_proxy.serving.process import CannotListen, ListenOptions
    from profiles import FleConfig

log = logging.getLogger("fle")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("proxy", help="run the field-level encryption edge proxy")
    # the flags' defaults are edge_proxy's settings classes': read when `fle proxy` is parsed
    cli.defer(p, _arguments)
    p.set_defaults(run=run)


def _arguments(p: argparse.ArgumentParser) -> None:
    from . import proxy_args

    proxy_args.add_arguments(p)


def proxy_settings(
    config_dir: str,
    origin: str,
    config_id: str | None = None,
    *,
    limits: Limits | None = None,
    timeouts: Timeouts | None = None,
) -> ProxySettings:
    """Load and check everything the proxy needs; CliError with the file and JSON path on bad config."""
    from yarl import URL

    from edge_proxy import ConfigSource, Limits, ProxySettings, Timeouts
    from profiles import ConfigError, load_config_dir

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
    from edge_proxy import Buffering, ClientLimits, Limits, Timeouts

    try:
        limits = Limits(args.max_body_bytes, args.max_field_bytes, args.max_encrypted_fields, args.max_fields)
        timeouts = Timeouts(
            origin_connect=args.origin_connect_timeout,
            origin_read=args.origin_read_timeout,
            client_idle=args.client_idle_timeout,
            shutdown=args.shutdown_timeout,
            origin_wait=args.origin_wait_timeout,
            client_write=args.client_write_timeout,
        )
        client = ClientLimits(
            args.max_header_bytes,
            args.max_headers,
            args.header_timeout,
            args.max_connections,
            args.max_client_connections,
        )
        buffering = Buffering(
            request=args.request_buffering == "on",
            response=args.response_buffering == "on",
            memory_bytes=args.buffer_memory_bytes,
            max_request_bytes=args.max_request_buffer_bytes,
            max_response_bytes=args.max_response_buffer_bytes,
            disk_bytes=args.buffer_disk_bytes,
            directory=args.buffer_dir,
        )
    except ValueError as e:
        raise cli.CliError(str(e)) from e
    settings = proxy_settings(args.config, args.origin, args.config_id, limits=limits, timeouts=timeouts)
    index_keys = _index_keys(args.index_keys, settings.config)
    try:  # ProxySettings checks --messages-ahead
        return dataclasses.replace(
            settings,
            client=client,
            buffering=buffering,
            index_keys=index_keys,
            messages_ahead=args.messages_ahead,
        )
    except ValueError as e:
        raise cli.CliError(str(e)) from e


def _index_keys(path: str | None, config: FleConfig) -> IndexKeys | None:
    """The index keys, read now (root key files checked), and every index's key name found in them; the
    tokens are opened by each worker, after it forked. CliError naming the profile, index and key."""
    from blindindex import BlindIndexError
    from blindindex.keys import IndexKeys
    from edge_proxy.pipeline.indexing import check_keys
    from profiles import ConfigError

    keys = None
    if path is not None:
        try:
            keys = IndexKeys.load(path)
        except BlindIndexError as e:
            raise cli.CliError(f"--index-keys {path}: {e}") from e
    try:
        for profile in config.profiles:
            check_keys(profile, keys, prepare=False)
    except ConfigError as e:
        raise cli.CliError(str(e)) from e
    return keys


def listen_options(args: argparse.Namespace) -> ListenOptions:
    """Where and how `fle proxy` listens, from its arguments; CliError on a bad address or TLS file."""
    from edge_proxy import ProxyError, tls_context
    from edge_proxy.serving.process import ListenOptions

    if bool(args.tls_cert) != bool(args.tls_key):
        raise cli.CliError("--tls-cert and --tls-key go together")
    try:
        host, port = serve.parse_listen(args.listen)
        admin = None if args.admin == "off" else serve.parse_listen(args.admin)
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (ValueError, ProxyError) as e:
        raise cli.CliError(str(e)) from e
    return ListenOptions(host, port, admin, tls)


def configure_access_log(target: str) -> None:
    """Access-log lines are bare JSON, one per request, apart from the diagnostic log on stderr."""
    access = logging.getLogger("edge_proxy.access")
    access.propagate = False
    if target == "off":
        access.disabled = True
        return
    try:
        handler = logsafe.stream_handler(sys.stdout, None if target == "-" else target, fmt="%(message)s")
    except OSError as e:
        raise cli.CliError(f"--access-log {target}: cannot open it ({e.strerror or e})") from e
    access.addHandler(handler)
    access.setLevel(logging.INFO)


def shown_origin(origin: URL) -> str:
    """The origin as logs name it: without the credentials --origin may hold."""
    return str(origin.with_user(None))


def check_origin(origin: URL, timeout: float) -> str | None:
    """A warning when nothing answers a TCP connection at the origin now (None when something does): the
    proxy still starts, as an origin may come up after it, but a typo in --origin is seen at once."""
    assert origin.host is not None and origin.port is not None  # proxy_settings checked the URL
    try:
        socket.create_connection((origin.host, origin.port), timeout=timeout).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        return (
            f"origin {shown_origin(origin)} does not answer now ({reason}); starting anyway: requests get "
            "502 until it does"
        )
    return None


def run(args: argparse.Namespace) -> int:
    from edge_proxy import loops
    from edge_proxy.serving import workers
    from edge_proxy.serving.loops import LoopUnavailable, choose_loop
    from edge_proxy.serving.process import CannotListen, run_workers, serve_proxy

    settings = build_settings(args)
    listen = listen_options(args)

    def warn_if_origin_is_dead() -> None:
        # once listening (a refusal to start stays one line), on a thread: the event loop serves meanwhile
        def check() -> None:
            warning = check_origin(settings.origin, min(settings.timeouts.origin_connect, 3.0))
            if warning:
                log.warning("%s", warning)

        threading.Thread(target=check, name="fle-origin-check", daemon=True).start()

    try:
        loop = choose_loop(args.loop)
    except LoopUnavailable as e:
        raise cli.CliError(str(e)) from e
    configure_access_log(args.access_log)  # before any worker forks; its handler scrubs as logsafe does
    try:
        if args.workers != 1:
            return run_workers(settings, listen, args.workers, loop, on_listening=warn_if_origin_is_dead)
        return loops.run(lambda: serve_proxy(settings, listen, on_listening=warn_if_origin_is_dead), loop)
    except workers.WorkersError as e:
        raise cli.CliError(str(e)) from e
    except CannotListen as e:
        raise cli.CliError(_cannot_listen(e, several=args.workers != 1)) from e


def _cannot_listen(e: CannotListen, several: bool) -> str:
    """The one line naming the flag that moves the listener."""
    if e.role == "admin" and several:  # the parent's own admin server
        return (
            f"--admin {e.host}:{e.port}: cannot listen there ({e.error.strerror}); "
            "choose another with --admin, or 'off'"
        )
    flag = "--listen" if e.role == "proxy" else "--admin (or --admin off)"
    return str(serve.listen_error(e.host, e.port, flag, e.error))
