"""`fle origin --listen HOST:PORT --store URL [--indexed-field FIELD ...]`"""

from __future__ import annotations

import argparse
import logging
import os

from . import argtypes, cli, serve

log = logging.getLogger("fle")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("origin", help="run the sample origin application")
    p.add_argument("--listen", default="127.0.0.1:8081", type=argtypes.listen_address, metavar="HOST:PORT")
    p.add_argument(
        "--store",
        default=os.environ.get("FLE_STORE"),
        metavar="URL",
        help="sqlite:///PATH or dynamodb://TABLE[?create=false] (default: $FLE_STORE); DynamoDB's endpoint, "
        "region and credentials come from AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION, AWS_PROFILE, ...",
    )
    p.add_argument(
        "--indexed-field",
        dest="indexed_fields",
        action="append",
        metavar="FIELD",
        help="a field the edge writes a FIELD__bidx beacon for (its profile's Fle:Indexes), looked up on "
        "/find; repeat for each (default: $FLE_INDEXED_FIELDS, comma-separated). With dynamodb:// a new "
        "table gets a FIELD__bidx index for each, and a table without one is refused; SQLite needs none",
    )
    p.set_defaults(run=run)


def _env_fields() -> list[str]:
    return [f.strip() for f in os.environ.get("FLE_INDEXED_FIELDS", "").split(",") if f.strip()]


def run(args: argparse.Namespace) -> int:
    from edge_proxy import start_site, until_signalled
    from origin import build_app
    from store import StoreError, open_store

    if not args.store:
        raise cli.CliError("give --store sqlite:///PATH or --store dynamodb://TABLE (or set FLE_STORE)")
    try:
        host, port = serve.parse_listen(args.listen)
        store = open_store(args.store, indexed_fields=args.indexed_fields or _env_fields())
    except (ValueError, StoreError) as e:
        raise cli.CliError(str(e)) from e

    async def main() -> None:
        try:  # a store that cannot work stops us here, not with a 503 for every submission
            await store.check()
        except StoreError as e:
            await store.close()
            raise cli.CliError(f"store {args.store}: {e}") from e
        try:
            with serve.listening(host, port, "--listen"):
                runner, url = await start_site(build_app(store), host, port, auto_decompress=True)
        except serve.ListenError:
            await store.close()
            raise
        log.info("origin listening on %s, storing in %s", url, args.store)
        try:
            await until_signalled()
        finally:
            await runner.cleanup()

    try:
        return serve.run(main)
    except serve.ListenError as e:
        raise cli.CliError(str(e)) from e
