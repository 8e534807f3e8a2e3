"""`fle hsm trust|backup|restore|clone`: copy HSM-held keys between PKCS#11 tokens, never in plaintext.

This module registers the subcommands and their arguments; fle/hsm_commands.py runs them. The tokens come
from keystore files (fle/hsm_keystores.py): a source keystore names the keys and the token they are in, a
member keystore (DST.toml) names the token(s) they go to, each entry with `pin_env` and `so_pin_env`.
The work is done by keystore/hsm_trust.py, hsm_backup.py and hsm_restore.py.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from . import cli


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "hsm", help="back up, restore and clone HSM-held keys between PKCS#11 tokens (docs/hsm-backup.md)"
    )
    # the actions run hsm_commands (keystore, python-pkcs11, boto3): imported when `fle hsm` is parsed
    cli.defer(p, _actions)


def _actions(p: argparse.ArgumentParser) -> None:
    from .hsm_commands import run_backup, run_clone, run_restore, run_trust, run_untrust

    sub = p.add_subparsers(dest="hsm_command", required=True, metavar="ACTION")

    _membership(
        sub,
        "trust",
        "let the member token(s) receive the source token's backups (both security officers' PINs)",
        run_trust,
    )
    _membership(
        sub,
        "untrust",
        "stop making backups for the member token(s) (the source's security officer's PIN)",
        run_untrust,
    )

    backup = sub.add_parser("backup", help="write an archive of keys, wrapped for the trusted members")
    _source_args(backup)
    backup.add_argument("--out", required=True, metavar="ARCHIVE", help="a file, or s3://bucket/key")
    backup.add_argument(
        "--key", action="append", metavar="PROVIDER/NAME", help="only these keys (repeatable; default: all)"
    )
    backup.set_defaults(run=run_backup)

    restore = sub.add_parser("restore", help="unwrap an archive's keys inside the member token(s)")
    restore.add_argument("--archive", required=True, metavar="ARCHIVE", help="a file, or s3://bucket/key")
    restore.add_argument(
        "--keystore",
        required=True,
        metavar="DST.toml",
        help="keystore naming the keys and the member token(s)",
    )
    restore.add_argument(
        "--allow-older", action="store_true", help="restore an archive older than the token's last restore"
    )
    restore.set_defaults(run=run_restore)

    clone = sub.add_parser("clone", help="backup and restore in one step: add a member to a cluster")
    _source_args(clone)
    clone.add_argument(
        "--member",
        required=True,
        metavar="DST.toml",
        help="keystore naming the keys and the new member token(s)",
    )
    clone.add_argument(
        "--out", metavar="ARCHIVE", help="also keep the archive here (a file or s3://bucket/key)"
    )
    clone.set_defaults(run=run_clone)


def _membership(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    run: Callable[[argparse.Namespace], int],
) -> None:
    """`trust` and `untrust` take the same arguments: the source and the keystore naming the members."""
    p = sub.add_parser(name, help=help)
    _source_args(p)
    p.add_argument("--member", required=True, metavar="DST.toml", help="keystore naming the member token(s)")
    p.set_defaults(run=run)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keystore", required=True, metavar="SRC.toml", help="keystore naming the source token")
    p.add_argument(
        "--source-token", metavar="LABEL", help="which token of a cluster is the source (default: the first)"
    )
