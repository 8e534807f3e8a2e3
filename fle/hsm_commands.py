"""Running `fle hsm trust|untrust|backup|restore|clone` (fle/cmd_hsm.py registers their arguments).

Each reads its keystores (fle/hsm_keystores.py) and archives (fle/hsm_archive_io.py), calls keystore's
hsm_trust, hsm_backup or hsm_restore, and prints what was done. PINs are never printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from keystore import KeystoreError
from keystore.settings import Pkcs11Settings

from . import cli
from .hsm_archive_io import read_archive_bytes, write_archive
from .hsm_keystores import load_keystore, member_tokens, source_and_keys

if TYPE_CHECKING:  # python-pkcs11 is imported only when an `fle hsm` command runs
    from keystore.hsm_tokens import Token


def run_trust(args: argparse.Namespace) -> int:
    from keystore import hsm_trust

    return _each_member(args, hsm_trust.trust)


def run_untrust(args: argparse.Namespace) -> int:
    from keystore import hsm_trust

    return _each_member(args, hsm_trust.untrust)


def _each_member(args: argparse.Namespace, change: Callable[[Token, Token], list[str]]) -> int:
    """Apply a membership change (trust or untrust) between the source and each member token."""
    source, _ = source_and_keys(args)
    try:
        for member in member_tokens(args.member, source.label):
            for line in change(source, member):
                print(line)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e
    return 0


def _backup(args: argparse.Namespace, only: list[tuple[str, str]] | None = None) -> bytes:
    from keystore import hsm_backup

    source, refs = source_and_keys(args, only)
    try:
        return hsm_backup.backup(source, refs)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e


def run_backup(args: argparse.Namespace) -> int:
    from keystore import hsm_archive

    data = _backup(args)
    write_archive(args.out, data)
    archive = hsm_archive.read_archive(data)
    names = ", ".join(f"{k['provider_id']}/{k['key_name']}" for k in archive.manifest["keys"])
    print(
        f"backup {archive.sequence} of token {archive.manifest['source']['token_label']!r} "
        f"({names}) for {len(archive.manifest['members'])} member(s) written to {args.out}"
    )
    return 0


def _restore(data: bytes, keystore_path: str, allow_older: bool) -> int:
    from keystore import hsm_archive, hsm_restore

    try:
        archive = hsm_archive.read_archive(data)
        members = member_tokens(keystore_path, archive.manifest["source"]["token_label"])
        results = hsm_restore.restore(archive, members, allow_older)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e
    for result in results:
        print(
            f"{result.outcome:16} {result.key} in token {result.token!r}"
            + (" (proven by a round trip with its public key)" if result.outcome == "restored" else "")
        )
    print(f"backup {archive.sequence} restored into {len(members)} token(s)")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    return _restore(read_archive_bytes(args.archive), args.keystore, args.allow_older)


def run_clone(args: argparse.Namespace) -> int:
    member_keys = [(e.provider_id, e.key_name) for e in load_keystore(args.member).entries
                   if isinstance(e.settings, Pkcs11Settings)]  # fmt: skip
    if not member_keys:
        raise cli.CliError(f"{args.member}: no pkcs11 keys to clone")
    data = _backup(args, member_keys)
    if args.out:
        write_archive(args.out, data)
    return _restore(data, args.member, allow_older=False)
