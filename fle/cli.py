"""`fle`: one command, subcommands that parse arguments, wire packages together and start them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import NoReturn

import logsafe

from . import (
    cmd_bench,
    cmd_config,
    cmd_decrypt,
    cmd_demo,
    cmd_deploy,
    cmd_hsm,
    cmd_index,
    cmd_keys,
    cmd_origin,
    cmd_package,
    cmd_proxy,
    cmd_reveal,
    cmd_rewrap,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LEVEL_ENV = "FLE_LOG_LEVEL"


def version() -> str:
    try:
        return metadata.version("fle-edge")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand's parser below it (fle keys create, ...)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option with a default says it in --help, unless its help text already does."""
    for action in parser._actions:
        default = action.default
        if action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        if default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            continue
        action.help = f"{action.help} (default: %(default)s)" if action.help else "default: %(default)s"


class FleArgumentParser(argparse.ArgumentParser):
    """argparse with a usage error in one line (`fle proxy: argument --origin: ...`), and the way to the
    usage, instead of the whole usage block (25 lines for `fle proxy`) above it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = FleArgumentParser(prog="fle", description="Edge field-level encryption proxy and tools.")
    parser.add_argument("--version", action="version", version=f"fle {version()}")
    level_help = f"diagnostic log level (default: ${LOG_LEVEL_ENV}, else INFO); also after the subcommand"
    parser.add_argument(
        "--log-level",
        default=os.environ.get(LOG_LEVEL_ENV, "INFO").upper(),
        type=str.upper,
        choices=LOG_LEVELS,
        help=level_help,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subcommands = (
        cmd_demo,
        cmd_proxy,
        cmd_reveal,
        cmd_origin,
        cmd_decrypt,
        cmd_keys,
        cmd_hsm,
        cmd_rewrap,
        cmd_bench,
        cmd_package,
        cmd_config,
        cmd_deploy,
        cmd_index,
    )
    for module in subcommands:
        module.register(commands)
    for sub in list(_parsers(parser))[1:]:
        # SUPPRESS: a subcommand that is not given --log-level keeps the value parsed before it
        sub.add_argument("--log-level", default=argparse.SUPPRESS, type=str.upper, choices=LOG_LEVELS,
                         help=level_help)  # fmt: skip
    for each in _parsers(parser):
        _show_defaults(each)
    return parser


def configure_logging(level: str) -> None:
    """One setup for every subcommand: stderr, every record scrubbed and on one line (logsafe)."""
    logsafe.configure(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if os.environ.get(LOG_LEVEL_ENV, "INFO").upper() not in LOG_LEVELS:
        wrong = os.environ[LOG_LEVEL_ENV]
        parser.error(f"{LOG_LEVEL_ENV}={wrong!r}: expected one of {', '.join(LOG_LEVELS)}")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args.run(args))
    except CliError as e:
        print(f"fle {args.command}: {e}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""
