"""The tokens and keys `fle hsm` works on, read from keystore files, with their PINs from the environment.

A source keystore names the keys and the token they are in (the first token_label, or --source-token); a
member keystore (DST.toml) names the token(s) they go to: every token_label of its pkcs11 entries but the
source's. PINs are read from the variables the entries name and passed to the token only: never printed.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from keystore import Keystore, KeystoreError
from keystore.keystore import KeyEntry
from keystore.settings import Pkcs11Settings

from . import cli

if TYPE_CHECKING:  # python-pkcs11 is imported only when an `fle hsm` command runs
    from keystore.hsm_tokens import KeyRef, Token


def load_keystore(path: str) -> Keystore:
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
    from keystore.hsm_tokens import Token

    pin = os.environ.get(settings.pin_env)
    if not pin:
        raise cli.CliError(f"{where}: set {settings.pin_env} (the user PIN of token {label!r})")
    so_pin = os.environ.get(settings.so_pin_env) if settings.so_pin_env else None
    return Token(settings.module, label, pin, so_pin or None)


def _ref(entry: KeyEntry) -> KeyRef:
    from keystore.hsm_tokens import KeyRef

    settings = _pkcs11(entry)
    return KeyRef(entry.provider_id, entry.key_name, settings.key_label, settings.key_id)


def source_and_keys(
    args: argparse.Namespace, only: list[tuple[str, str]] | None = None
) -> tuple[Token, list[KeyRef]]:
    """The source token and the keys to back up: --key's, `only`'s, or every pkcs11 entry."""
    keystore = load_keystore(args.keystore)
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


def member_tokens(path: str, source_label: str | None) -> dict[Token, list[KeyRef]]:
    """Each member token the keystore names (all its token_labels but the source's), with its keys."""
    keystore = load_keystore(path)
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
