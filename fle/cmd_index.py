"""`fle index keys create | plan`: blind-index keys and beacon lengths (docs/search.md).

`keys create` makes an index root key (a file of 64 hex characters, mode 0600) or per-index secret keys
inside a PKCS#11 token (never extractable), and appends the `[[index_key]]` entry to the index-keys file.
Everything that can refuse is checked before a key is made. `plan` prints the safe beacon lengths for a
field with X distinct values (the AWS Database Encryption SDK's rule) and what a lookup costs with each.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from blindindex.settings import INDEX_KEYS_ENV

from . import cli

if TYPE_CHECKING:
    from blindindex.settings import IndexKeyEntry


def count(text: str) -> int:
    """A whole number of distinct values, 1 or more."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 1")
    return number


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("index", help="blind indexes: index keys and beacon lengths (docs/search.md)")
    sub = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")

    keys = sub.add_parser("keys", help="make index keys")
    keys_sub = keys.add_subparsers(dest="index_keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser(
        "create", help="make an index key (a root key file, or per-index keys in a token) and its entry"
    )
    create.add_argument(
        "--index-keys",
        default=os.environ.get(INDEX_KEYS_ENV),
        metavar="FILE",
        help=f"the index-keys TOML file the entry is appended to (default: ${INDEX_KEYS_ENV})",
    )
    create.add_argument("--name", required=True, help="the key's name, what a profile index's \"Key\" names")
    create.add_argument("--backend", required=True, choices=["file", "pkcs11"])
    file = create.add_argument_group("file (a 32-byte root key as 64 hex characters, mode 0600)")
    file.add_argument("--path", metavar="PATH", help="where to write the root key; never overwritten")
    hsm = create.add_argument_group(
        "pkcs11 (one key per index, generated inside the token, never extractable)"
    )
    hsm.add_argument("--module", metavar="PATH", help="the PKCS#11 library")
    hsm.add_argument("--token", metavar="LABEL", help="the token's label")
    hsm.add_argument("--pin-env", default="FLE_PKCS11_PIN", metavar="VAR", help="variable holding the PIN")
    hsm.add_argument(
        "--key-label", metavar="LABEL", help="label prefix: index I's key is LABEL:I (default: --name)"
    )
    hsm.add_argument(
        "--index",
        action="append",
        metavar="NAME",
        help="an index (a profile index's Name) to make a key for; repeatable",
    )
    create.set_defaults(run=run_create)

    plan = sub.add_parser("plan", help="safe beacon lengths for a field with X distinct values")
    plan.add_argument(
        "--distinct", required=True, type=count, metavar="X", help="the field's distinct values"
    )
    plan.set_defaults(run=run_plan)


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise cli.CliError(f"--backend {args.backend} needs {', '.join(missing)}")


def _refuse_others(args: argparse.Namespace, *names: str) -> None:
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n)]
    if given:
        raise cli.CliError(f"{', '.join(given)} not for --backend {args.backend}")


def _entry(args: argparse.Namespace) -> IndexKeyEntry:
    from blindindex.settings import NAME_RE, FileKeySettings, IndexKeyEntry, Pkcs11KeySettings

    if not NAME_RE.fullmatch(args.name):
        raise cli.CliError(f"--name {args.name!r}: letters, digits, '.', '_' and '-' only (at most 128)")
    if args.backend == "file":
        _need(args, "path")
        _refuse_others(args, "module", "token", "key_label", "index")
        return IndexKeyEntry(args.name, FileKeySettings(Path(args.path)))
    _need(args, "module", "token", "index")
    _refuse_others(args, "path")
    for index in args.index:
        if not NAME_RE.fullmatch(index):
            raise cli.CliError(f"--index {index!r}: letters, digits, '.', '_' and '-' only")
    if len(set(args.index)) != len(args.index):
        raise cli.CliError("--index names an index twice")
    return IndexKeyEntry(
        args.name, Pkcs11KeySettings(args.module, args.token, args.pin_env, args.key_label or args.name)
    )


def run_create(args: argparse.Namespace) -> int:
    from blindindex import BlindIndexError
    from blindindex.settings import FileKeySettings, read_index_keys
    from blindindex.tooling import append_entry, create_root_key_file

    if not args.index_keys:
        raise cli.CliError(f"give --index-keys FILE (or set {INDEX_KEYS_ENV}): the entry is appended to it")
    toml = Path(args.index_keys)
    entry = _entry(args)
    try:  # everything that can refuse, before a key is made
        if toml.exists() and entry.name in read_index_keys(toml):
            raise cli.CliError(f"{toml} already has an index_key named {entry.name!r}")
        if isinstance(entry.settings, FileKeySettings):
            create_root_key_file(entry.settings.path)
            print(f"index root key: {entry.settings.path} (mode 0600)")
        else:
            from blindindex.pkcs11_key import generate_index_keys, read_pin

            labels = generate_index_keys(entry.settings, read_pin(entry.settings), args.index)
            print(
                f"generated in token {entry.settings.token_label!r}: {', '.join(labels)} (never extractable)"
            )
    except BlindIndexError as e:
        raise cli.CliError(str(e)) from e
    append_entry(toml, entry)
    print(f"index_key {entry.name!r} ({entry.backend}) appended to {toml}")
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from blindindex import hex_length, safe_lengths

    x = args.distinct
    plans = safe_lengths(x)
    if not plans:
        print(
            f"fle index plan: no beacon length is safe for {x} distinct values (the rule needs "
            "2^N < X/2 and 2^N > sqrt(X)): its beacons would tell its few values apart, or find nearly "
            "every record; do not index such a field (docs/search.md)",
            file=sys.stderr,
        )
        return 1
    print(f"{x} distinct values: safe beacon lengths (2^N < X/2 and 2^N > sqrt(X))")
    print(f"{'Bits':>4}  {'hex':>3}  {'values/beacon':>13}  {'candidates/lookup':>17}")
    for plan in plans:
        print(
            f"{plan.bits:>4}  {hex_length(plan.bits):>3}  {plan.values_per_beacon:>13,.2f}  "
            f"{plan.candidates_per_lookup:>17,.2f}"
        )
    print(
        "values/beacon = X / 2^N; candidates/lookup = 1 + (X - 1) / 2^N distinct values per lookup of a "
        "stored value (times the records per value). Fewer bits: more privacy, more candidates to read."
    )
    return 0
