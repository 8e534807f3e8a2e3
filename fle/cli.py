"""`fle`: one command, subcommands that parse arguments, wire packages together and start them."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import cmd_bench, cmd_config, cmd_decrypt, cmd_demo, cmd_keys, cmd_origin, cmd_proxy, cmd_rewrap


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fle", description="Edge field-level encryption proxy and tools.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (cmd_demo, cmd_proxy, cmd_origin, cmd_decrypt, cmd_keys, cmd_rewrap, cmd_bench, cmd_config):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except CliError as e:
        print(f"fle {args.command}: {e}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""
