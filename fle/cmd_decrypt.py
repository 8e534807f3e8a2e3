"""`fle decrypt`: decrypt stored items (--id, --recent) or base64 ciphertexts read from stdin."""

from __future__ import annotations

import argparse
import json
import sys

from decryptor.handler import lambda_handler

from . import cli


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser(
        "decrypt",
        help="decrypt stored items or ciphertexts (keystore from FLE_KEYSTORE, store from FLE_STORE)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--id", action="append", dest="ids", metavar="ID", help="a stored item's id (repeatable)"
    )
    group.add_argument("--recent", type=int, metavar="N", help="the N newest stored items")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.ids:
        event: dict[str, object] = {"ids": args.ids}
    elif args.recent is not None:
        event = {"recent": args.recent}
    else:
        if sys.stdin.isatty():
            print("paste base64 ciphertexts, one per line, then Ctrl-D", file=sys.stderr)
        event = {"ciphertexts": [line.strip() for line in sys.stdin if line.strip()]}
    result = lambda_handler(event, None)
    if "error" in result:
        raise cli.CliError(str(result["error"]))
    for row in result.get("results", result.get("items", [])):
        print(json.dumps(row, ensure_ascii=False))
    return 0
