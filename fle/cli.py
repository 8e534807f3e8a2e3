"""`fle`: one command, subcommands that parse arguments, wire packages together and start them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

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
    cmd_match,
    cmd_origin,
    cmd_package,
    cmd_proxy,
    cmd_reindex,
    cmd_reveal,
    cmd_rewrap,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LEVEL_ENV = "FLE_LOG_LEVEL"


def version() -> str:
    from importlib import metadata  # about 80 ms: only for --version, never on a command's way

    try:
        return metadata.version("fle-edge")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse._VersionAction):
    """argparse's --version, the version looked up only when it is asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        self.version = f"fle {version()}"
        super().__call__(parser, *args, **kwargs)


def _parsers(parser: argparse.ArgumentParser, *, complete: bool = True) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand's parser below it (fle keys create, ...); `complete`: with the
    arguments of a subcommand that defers them (FleArgumentParser.defer) added first."""
    if complete and isinstance(parser, FleArgumentParser):
        parser.complete()
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub, complete=complete)


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
    usage, instead of the whole usage block (25 lines for `fle proxy`) above it.

    A subcommand whose flags take their defaults from the package it runs (`fle proxy`: edge_proxy's
    settings classes) defers them (`defer`): they are added when that subcommand is parsed, so no other
    command imports that package (docs/architecture.md, "Startup")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Callable[[argparse.ArgumentParser], None]] = []

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def defer(self, add_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
        """Call `add_arguments(self)` only when this parser is used (parsed, or walked by `_parsers`)."""
        self._deferred.append(add_arguments)

    def complete(self) -> None:
        """Add the deferred arguments, then what build_parser gives every subcommand (--log-level, defaults
        shown in --help), in the order an eager subcommand has them."""
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, []
        for add_arguments in deferred:
            add_arguments(self)
        for each in _parsers(self):
            _finish(each)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self.complete()
        return super().parse_known_args(*args, **kwargs)


def defer(parser: argparse.ArgumentParser, add_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """`add_arguments(parser)` when `parser`'s subcommand is parsed (FleArgumentParser.defer)."""
    assert isinstance(parser, FleArgumentParser), parser  # every parser below build_parser's is one
    parser.defer(add_arguments)


_LEVEL_HELP = f"diagnostic log level (default: ${LOG_LEVEL_ENV}, else INFO); also after the subcommand"


def _finish(sub: argparse.ArgumentParser) -> None:
    """What every subcommand's parser gets: --log-level after the subcommand, defaults shown in --help."""
    # SUPPRESS: a subcommand that is not given --log-level keeps the value parsed before it
    sub.add_argument("--log-level", default=argparse.SUPPRESS, type=str.upper, choices=LOG_LEVELS,
                     help=_LEVEL_HELP)  # fmt: skip
    _show_defaults(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = FleArgumentParser(prog="fle", description="Edge field-level encryption proxy and tools.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "--log-level",
        default=os.environ.get(LOG_LEVEL_ENV, "INFO").upper(),
        type=str.upper,
        choices=LOG_LEVELS,
        help=_LEVEL_HELP,
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
        cmd_match,
        cmd_reindex,
    )
    for module in subcommands:
        module.register(commands)
    _show_defaults(parser)
    for sub in list(_parsers(parser, complete=False))[1:]:
        if not (isinstance(sub, FleArgumentParser) and sub._deferred):
            _finish(sub)  # a deferring one gets it from complete(), after its own arguments
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
