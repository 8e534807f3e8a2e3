"""`fle hsm trust|backup|restore|clone`: copy HSM-held keys between PKCS#11 tokens, never in plaintext.

The tokens come from keystore files: a source keystore names the keys and the token they are in, a
member keystore (DST.toml) names the token(s) they go to, each entry with `pin_env` and `so_pin_env`.
The work is done by keystore/hsm_backup.py; this module reads keystores, PINs and archives (a file or
s3://bucket/key). PINs are read from the environment and passed to the token only: never printed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keystore import Keystore, KeystoreError
from keystore.keystore import KeyEntry
from keystore.settings import Pkcs11Settings

from . import cli

if TYPE_CHECKING:  # python-pkcs11 is imported only when an `fle hsm` command runs
    from keystore.hsm_backup import KeyRef, Token


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "hsm", help="back up, restore and clone HSM-held keys between PKCS#11 tokens (docs/hsm-backup.md)"
    )
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


# -- tokens from keystores --------------------------------------------------------------------------------
def _load(path: str) -> Keystore:
    try:
        return Keystore.from_file(path)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e


def _pkcs11(entry: KeyEntry) -> Pkcs11Settings:
    if not isinstance(entry.settings, Pkcs11Settings):
        raise cli.CliError(
            f"{entry.where}: {entry.provider_id}/{entry.key_name} is not held in an HSM (pkcs11)"
        )
    if not entry.settings.token_labels:
        raise cli.CliError(f"{entry.where}: `fle hsm` finds tokens by token_label; give it instead of slot")
    return entry.settings


def _token(settings: Pkcs11Settings, label: str, where: str) -> Token:
    from keystore.hsm_backup import Token

    pin = os.environ.get(settings.pin_env)
    if not pin:
        raise cli.CliError(f"{where}: set {settings.pin_env} (the user PIN of token {label!r})")
    so_pin = os.environ.get(settings.so_pin_env) if settings.so_pin_env else None
    return Token(settings.module, label, pin, so_pin or None)


def _ref(entry: KeyEntry) -> KeyRef:
    from keystore.hsm_backup import KeyRef

    settings = _pkcs11(entry)
    return KeyRef(entry.provider_id, entry.key_name, settings.key_label, settings.key_id)


def _source(
    args: argparse.Namespace, only: list[tuple[str, str]] | None = None
) -> tuple[Token, list[KeyRef]]:
    """The source token and the keys to back up: --key's, `only`'s, or every pkcs11 entry."""
    keystore = _load(args.keystore)
    if only is not None:
        wanted = only
    elif getattr(args, "key", None):
        wanted = []
        for name in args.key:
            provider, _, key_name = name.partition("/")
            if not provider or not key_name:
                raise cli.CliError(f"--key {name!r}: give PROVIDER/NAME, e.g. FLEDemo/DemoPublicKey")
            wanted.append((provider, key_name))
    else:
        wanted = [
            (e.provider_id, e.key_name) for e in keystore.entries if isinstance(e.settings, Pkcs11Settings)
        ]
    if not wanted:
        raise cli.CliError(f"{args.keystore}: no pkcs11 keys to back up")
    entries = []
    for provider, key_name in wanted:
        try:
            entries.append(keystore.entry(provider, key_name))
        except KeystoreError as e:
            raise cli.CliError(f"{args.keystore}: {e}") from e
    first = _pkcs11(entries[0])
    label = args.source_token or first.token_labels[0]
    for entry in entries:
        settings = _pkcs11(entry)
        if label not in settings.token_labels or settings.module != first.module:
            raise cli.CliError(
                f"{entry.where}: {entry.provider_id}/{entry.key_name} is not in source token {label!r}; "
                "back up one token's keys at a time (--key, --source-token)"
            )
    return _token(first, label, entries[0].where), [_ref(e) for e in entries]


def _members(path: str, source_label: str | None) -> dict[Token, list[KeyRef]]:
    """Each member token the keystore names (all its token_labels but the source's), with its keys."""
    keystore = _load(path)
    tokens: dict[tuple[str, str], Token] = {}
    refs: dict[tuple[str, str], list[KeyRef]] = {}
    for entry in keystore.entries:
        if not isinstance(entry.settings, Pkcs11Settings):
            continue
        settings = _pkcs11(entry)
        for label in settings.token_labels:
            if label == source_label:
                continue
            ident = (settings.module, label)
            if ident not in tokens:
                tokens[ident] = _token(settings, label, entry.where)
            refs.setdefault(ident, []).append(_ref(entry))
    if not tokens:
        raise cli.CliError(
            f"{path}: names no member token (pkcs11 entries with a token_label other than the source)"
        )
    return {tokens[ident]: refs[ident] for ident in tokens}


# -- archives -------------------------------------------------------------------------------------------
def _s3(location: str) -> tuple[Any, str, str]:
    from keystore.ssm_backend import aws_client

    bucket, _, key = location[len("s3://") :].partition("/")
    if not bucket or not key:
        raise cli.CliError(f"{location!r}: give s3://BUCKET/KEY")
    return aws_client("s3", None), bucket, key


def write_archive(location: str, data: bytes) -> None:
    if location.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        client, bucket, key = _s3(location)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        except (BotoCoreError, ClientError) as e:
            raise cli.CliError(f"cannot write {location}: {e}") from e
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_archive_bytes(location: str) -> bytes:
    if location.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        client, bucket, key = _s3(location)
        try:
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (BotoCoreError, ClientError) as e:
            raise cli.CliError(f"cannot read {location}: {e}") from e
    try:
        return Path(location).read_bytes()
    except OSError as e:
        raise cli.CliError(f"cannot read {location}: {e.strerror}") from e


# -- commands -------------------------------------------------------------------------------------------
def run_trust(args: argparse.Namespace) -> int:
    from keystore import hsm_backup

    return _each_member(args, hsm_backup.trust)


def run_untrust(args: argparse.Namespace) -> int:
    from keystore import hsm_backup

    return _each_member(args, hsm_backup.untrust)


def _each_member(args: argparse.Namespace, change: Callable[[Token, Token], list[str]]) -> int:
    """Apply a membership change (trust or untrust) between the source and each member token."""
    source, _ = _source(args)
    try:
        for member in _members(args.member, source.label):
            for line in change(source, member):
                print(line)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e
    return 0


def _backup(args: argparse.Namespace, only: list[tuple[str, str]] | None = None) -> bytes:
    from keystore import hsm_backup

    source, refs = _source(args, only)
    try:
        return hsm_backup.backup(source, refs)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e


def run_backup(args: argparse.Namespace) -> int:
    from keystore import hsm_backup

    data = _backup(args)
    write_archive(args.out, data)
    archive = hsm_backup.read_archive(data)
    names = ", ".join(f"{k['provider_id']}/{k['key_name']}" for k in archive.manifest["keys"])
    print(
        f"backup {archive.sequence} of token {archive.manifest['source']['token_label']!r} "
        f"({names}) for {len(archive.manifest['members'])} member(s) written to {args.out}"
    )
    return 0


def _restore(data: bytes, keystore_path: str, allow_older: bool) -> int:
    from keystore import hsm_backup

    try:
        archive = hsm_backup.read_archive(data)
        members = _members(keystore_path, archive.manifest["source"]["token_label"])
        results = hsm_backup.restore(archive, members, allow_older)
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
    member_keys = [(e.provider_id, e.key_name) for e in _load(args.member).entries
                   if isinstance(e.settings, Pkcs11Settings)]  # fmt: skip
    if not member_keys:
        raise cli.CliError(f"{args.member}: no pkcs11 keys to clone")
    data = _backup(args, member_keys)
    if args.out:
        write_archive(args.out, data)
    return _restore(data, args.member, allow_older=False)
