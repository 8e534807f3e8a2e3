"""`fle reveal --routes FILE --listen HOST:PORT [--tls-cert C --tls-key K] [--workers N] [--admin HOST:PORT]`
(keystore from FLE_KEYSTORE).

With `--workers N` (N > 1) reveal runs in N pre-forked processes sharing the port, the way `fle proxy` does
(edge_proxy/serving/prefork.py); each worker opens the keystore itself, after the fork: a PKCS#11 session or
an SSM/KMS client must not cross a fork. The routes are read and checked once, in the parent, before it.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from decryptor import config as decryptor_settings

from . import argtypes, cli, serve

if TYPE_CHECKING:
    from edge_proxy.serving import workers
    from keystore import Keystore
    from reveal import RevealConfig

log = logging.getLogger("fle")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "reveal",
        help="outbound proxy: decrypt allowed fields on their way to a route's upstream (docs/reveal.md)",
        description="Authenticate callers, decrypt the fields a route names with keystore keys, forward the "
        "request to the route's upstream over verified TLS, audit every revealed value.",
    )
    p.add_argument("--routes", required=True, metavar="FILE", help="routes file (TOML): callers and routes")
    p.add_argument("--listen", default="127.0.0.1:8443", type=argtypes.listen_address, metavar="HOST:PORT")
    p.add_argument(
        "--keystore", metavar="PATH", help=f"keystore file (default ${decryptor_settings.KEYSTORE_ENV})"
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--audit-file", metavar="PATH", help="append audit lines here (default: stdout)")
    p.add_argument("--upstream-connect-timeout", type=float, default=10.0, metavar="S")
    p.add_argument("--upstream-read-timeout", type=float, default=30.0, metavar="S")
    p.add_argument(
        "--upstream-wait-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="for a free upstream connection when all are in use; then 503 UpstreamBusy",
    )
    p.add_argument(
        "--client-write-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="one write of the answer waiting this long for the caller cuts the connection",
    )
    p.add_argument("--client-idle-timeout", type=float, default=60.0, metavar="S")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the port with SO_REUSEPORT (default 1: each opens its own keystore "
        "sessions; docs/reveal.md#workers); one admin listener (--admin) serves all of them",
    )
    p.add_argument(
        "--admin",
        default="off",
        type=argtypes.listen_address_or_off,
        metavar="HOST:PORT",
        help="admin listener for /healthz, /readyz, /metrics (default off)",
    )
    p.set_defaults(run=run)


def keys_not_held(config: RevealConfig, keystore: Keystore) -> list[str]:
    """Each route's keys that the keystore has no entry for, as "route 'NAME': PROVIDER/KEY, ...": such a
    route could only ever answer key_unknown, so reveal refuses to start with it."""
    held = {(entry.provider_id, entry.key_name) for entry in keystore.entries}
    missing = []
    for route in config.routes:
        absent = sorted(f"{provider}/{name}" for provider, name in route.keys - held)
        if absent:
            missing.append(f"route {route.name!r}: {', '.join(absent)}")
    return missing


def run(args: argparse.Namespace) -> int:
    from decryptor import AuditLog, Decryptor, DecryptorConfigError
    from edge_proxy import CannotListen, ProxyError, tls_context
    from edge_proxy.serving import workers
    from edge_proxy.serving.prefork import run_prefork
    from keystore import Keystore, KeystoreError
    from reveal import RoutesError, load_routes
    from reveal.server import DRAIN_TIMEOUT, serve_reveal
    from reveal.settings import RevealSettings

    if args.workers < 1:
        raise cli.CliError("--workers must be at least 1")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise cli.CliError("--tls-cert and --tls-key go together")
    keystore_path = args.keystore or os.environ.get(decryptor_settings.KEYSTORE_ENV)
    if not keystore_path:
        raise cli.CliError(f"give --keystore PATH or set {decryptor_settings.KEYSTORE_ENV}")
    try:
        host, port = serve.parse_listen(args.listen)
        config = load_routes(args.routes)
        keystore = Keystore.from_file(keystore_path)
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        settings = RevealSettings(
            client_idle=args.client_idle_timeout,
            upstream_connect=args.upstream_connect_timeout,
            upstream_read=args.upstream_read_timeout,
            upstream_wait=args.upstream_wait_timeout,
            client_write=args.client_write_timeout,
        )
        audit_log = AuditLog(args.audit_file)
        missing = keys_not_held(config, keystore)
        if missing:
            keystore.close()
            raise RoutesError(
                f"{args.routes}: the keystore {keystore_path} holds no entry for "
                + "; ".join(missing)
                + " (add the key with fle keys create, or take it out of the route's keys)"
            )
    except (ValueError, RoutesError, KeystoreError, ProxyError, DecryptorConfigError) as e:
        raise cli.CliError(str(e)) from e
    admin = None if args.admin == "off" else serve.parse_listen(args.admin)

    def serving(
        store: Keystore, listen_port: int, worker: workers.WorkerSlot | None
    ) -> Coroutine[Any, Any, None]:
        """Reveal in this process: alone (its own admin listener), or as a worker (the parent's admin)."""

        def listening(url: str) -> None:
            if worker is not None:
                worker.ready()
            else:
                log.info("reveal listening on %s, %d route(s) from %s", url, len(config.routes), args.routes)

        return serve_reveal(
            config, Decryptor(store), audit_log, host, listen_port, settings=settings, ssl_context=tls,
            admin=admin if worker is None else None, reuse_port=worker is not None, on_listening=listening,
        )  # fmt: skip

    async def serve_worker(slot: workers.WorkerSlot) -> None:
        store = Keystore.from_file(keystore_path)  # after the fork: sessions and clients of its own
        try:
            await serving(store, slot.port, slot)
        finally:
            store.close()

    def ready(url: str) -> None:
        if tls is not None:  # the supervisor holds a plain socket; the workers serve TLS on it
            url = "https" + url.removeprefix("http")
        log.info("reveal listening on %s with %d workers, %d route(s) from %s",
                 url, args.workers, len(config.routes), args.routes)  # fmt: skip

    try:
        if args.workers == 1:
            return serve.run(lambda: serving(keystore, port, None))
        keystore.close()  # it opened nothing (backends open on first use): each worker opens its own
        stop_timeout = DRAIN_TIMEOUT + 5  # a worker drains first; only then may the parent kill it
        return run_prefork(serve_worker, host, port, admin, args.workers, ready, stop_timeout=stop_timeout)
    except workers.WorkersError as e:
        raise cli.CliError(str(e)) from e
    except CannotListen as e:
        flag = "--listen" if e.role == "reveal" else "--admin (or --admin off)"
        raise cli.CliError(str(serve.listen_error(e.host, e.port, flag, e.error))) from e
    finally:
        audit_log.close()
