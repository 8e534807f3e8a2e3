"""`fle reveal --routes FILE --listen HOST:PORT [--tls-cert C --tls-key K]` (keystore from FLE_KEYSTORE)."""

from __future__ import annotations

import argparse
import logging
import os

from decryptor import AuditLog, Decryptor, DecryptorConfigError
from decryptor import config as decryptor_settings
from edge_proxy import ProxyError, tls_context, until_signalled
from keystore import Keystore, KeystoreError
from reveal import RevealConfig, RoutesError, load_routes
from reveal.server import start_reveal
from reveal.settings import RevealSettings

from . import argtypes, cli, serve

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
    p.add_argument("--client-idle-timeout", type=float, default=60.0, metavar="S")
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
    decryptor = Decryptor(keystore)

    async def main() -> None:
        with serve.listening(host, port, "--listen"):
            listener, url = await start_reveal(
                config, decryptor, audit_log, host, port, settings=settings, ssl_context=tls
            )
        log.info("reveal listening on %s, %d route(s) from %s", url, len(config.routes), args.routes)
        try:
            await until_signalled()
        finally:
            await listener.cleanup()
            audit_log.close()

    try:
        return serve.run(main)
    except serve.ListenError as e:
        raise cli.CliError(str(e)) from e
