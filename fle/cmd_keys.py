"""`fle keys create|list|check`: make key pairs in a backend, list the keystore, self-test every key."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import cli

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from keystore import Keystore
    from keystore.keystore import KeyEntry

    from . import profile_edit


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "keys", help="create, list and self-test private keys (keystore from FLE_KEYSTORE)"
    )
    # the flags' choices and defaults are keystore's (KEY_SIZES, KEYSTORE_ENV): read when `fle keys` is parsed
    cli.defer(p, _actions)


def _actions(p: argparse.ArgumentParser) -> None:
    from keystore.tooling import KEY_SIZES

    sub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    create = sub.add_parser(
        "create", help="make an RSA key pair in a backend; write its public key and entry"
    )
    create.add_argument("--backend", required=True, choices=["pkcs11", "ssm", "file"])
    create.add_argument("--provider-id", required=True, help="the profile's ProviderId, e.g. FLEDemo")
    create.add_argument("--key-name", required=True, help="the public key's Name, e.g. DemoPublicKey")
    create.add_argument("--bits", type=int, default=2048, choices=KEY_SIZES)
    create.add_argument("--config", metavar="DIR", help="write the CloudFront PublicKeyConfig JSON here")
    create.add_argument(
        "--fields",
        metavar="PATTERNS",
        help="with --config and --profile-id: encrypt these fields (e.g. phone,card*) with the new key, in "
        "that profile (created, with a form config, when missing)",
    )
    create.add_argument("--profile-id", metavar="ID", help="the profile --fields goes to, e.g. PFORM")
    _keystore_arg(create)
    hsm = create.add_argument_group("pkcs11 (generated inside the token, non-extractable unless --backup)")
    hsm.add_argument("--module", metavar="PATH", help="the PKCS#11 library")
    hsm.add_argument("--token-label", metavar="LABEL")
    hsm.add_argument("--key-label", metavar="LABEL", help="default: the key name")
    hsm.add_argument("--pin-env", default="FLE_PKCS11_PIN", metavar="VAR", help="variable holding the PIN")
    hsm.add_argument(
        "--backup",
        action="store_true",
        help="make the key extractable ONLY wrapped under a trusted key (CKA_WRAP_WITH_TRUSTED), so that "
        "`fle hsm backup`/`clone` can copy it to another token; without it the key can never leave this "
        "token (docs/hsm-backup.md)",
    )
    hsm.add_argument(
        "--so-pin-env",
        metavar="VAR",
        help="with --backup: the variable holding the token's security-officer PIN, written to the entry "
        "for `fle hsm` (default: FLE_PKCS11_SO_PIN)",
    )
    ssm = create.add_argument_group("ssm (stored as a SecureString, never on disk)")
    ssm.add_argument("--parameter", metavar="NAME")
    ssm.add_argument("--kms-key-id", metavar="ID", help="KMS key id, ARN or alias encrypting the parameter")
    ssm.add_argument("--region")
    file = create.add_argument_group("file (encrypted PKCS#8, mode 0600)")
    file.add_argument("--path", metavar="PATH")
    file.add_argument("--passphrase-env", default="FLE_KEY_PASSPHRASE", metavar="VAR")
    create.set_defaults(run=run_create)

    listing = sub.add_parser("list", help="the keys of the keystore file and where each is held")
    _keystore_arg(listing)
    listing.set_defaults(run=run_list)

    check = sub.add_parser("check", help="self-test: wrap a random data key with each public key, unwrap it")
    _keystore_arg(check)
    check.add_argument("--key-name", action="append", metavar="NAME", help="only these keys (repeatable)")
    check.set_defaults(run=run_check)


def _keystore_arg(p: argparse.ArgumentParser) -> None:
    from keystore import KEYSTORE_ENV

    p.add_argument(
        "--keystore", default=os.environ.get(KEYSTORE_ENV), metavar="FILE", help=f"default: ${KEYSTORE_ENV}"
    )


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise cli.CliError(f"--backend {args.backend} needs {', '.join(missing)}")


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise cli.CliError(f"set {name}")
    return value


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _entry_text(args: argparse.Namespace) -> str:
    lines = [
        "[[key]]",
        f"provider_id = {_toml(args.provider_id)}",
        f"key_name = {_toml(args.key_name)}",
        f"backend = {_toml(args.backend)}",
    ]
    if args.backend == "pkcs11":
        lines += [
            f"module = {_toml(args.module)}",
            f"token_label = {_toml(args.token_label)}",
            f"key_label = {_toml(args.key_label or args.key_name)}",
            f"pin_env = {_toml(args.pin_env)}",
        ]
        if args.backup or args.so_pin_env:
            lines.append(f"so_pin_env = {_toml(args.so_pin_env or 'FLE_PKCS11_SO_PIN')}")
    elif args.backend == "ssm":
        lines.append(f"parameter = {_toml(args.parameter)}")
        if args.region:
            lines.append(f"region = {_toml(args.region)}")
    else:
        lines += [
            f"path = {_toml(str(Path(args.path).resolve()))}",
            f"passphrase_env = {_toml(args.passphrase_env)}",
        ]
    return "\n".join(lines) + "\n"


def _make_key(args: argparse.Namespace) -> RSAPublicKey:
    from keystore.tooling import create_file_key, create_pkcs11_key, store_ssm_key

    if args.backend == "pkcs11":
        _need(args, "module", "token_label")
        return create_pkcs11_key(
            args.module,
            args.token_label,
            _env(args.pin_env),
            args.key_label or args.key_name,
            args.bits,
            backup=args.backup,
        )
    if args.backend == "ssm":
        _need(args, "parameter", "kms_key_id")
        return store_ssm_key(args.parameter, args.kms_key_id, args.region, args.bits)
    _need(args, "path")
    return create_file_key(Path(args.path), _env(args.passphrase_env).encode("utf-8"), args.bits)


def run_create(args: argparse.Namespace) -> int:
    from keystore import KEYSTORE_ENV, Keystore, KeystoreError
    from keystore.tooling import public_key_config

    from . import profile_edit

    if not args.keystore:
        raise cli.CliError(f"give --keystore FILE (or set {KEYSTORE_ENV}): the entry is appended to it")
    keystore_path = Path(args.keystore)
    public_json = Path(args.config) / f"{args.key_name}.public-key.json" if args.config else None
    try:  # everything that can refuse, before a key is made
        if keystore_path.exists():
            Keystore.from_file(keystore_path).entry(args.provider_id, args.key_name)
            raise cli.CliError(
                f"{keystore_path} already has provider {args.provider_id!r} key {args.key_name!r}"
            )
    except KeystoreError as e:
        if "no keystore entry" not in str(e):
            raise cli.CliError(str(e)) from e
    if public_json is not None and public_json.exists():
        raise cli.CliError(f"{public_json} already exists")
    if args.backend == "file" and args.path and Path(args.path).exists():
        raise cli.CliError(f"{args.path} already exists")
    if (args.backup or args.so_pin_env) and args.backend != "pkcs11":
        raise cli.CliError("--backup and --so-pin-env are for --backend pkcs11 (HSM-held keys)")
    fields = _fields_request(args)
    try:
        public = _make_key(args)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e
    if public_json is not None:
        public_json.parent.mkdir(parents=True, exist_ok=True)
        document = public_key_config(
            public, args.key_name, f"RSA-{args.bits} key held by fle ({args.backend})"
        )
        public_json.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
        print(f"public key: {public_json}")
    key_id = public_key_config(public, args.key_name)["PublicKey"]["Id"]
    print(f"public key Id: {key_id} (a profile's PublicKeyId)")
    keystore_path.parent.mkdir(parents=True, exist_ok=True)
    with keystore_path.open("a", encoding="utf-8") as out:
        out.write(("\n" if keystore_path.stat().st_size else "") + _entry_text(args))
    print(
        f"keystore entry for {args.provider_id}/{args.key_name} ({args.backend}) appended to {keystore_path}"
    )
    if fields is not None:
        request = dataclasses.replace(fields, public_key_id=key_id)
        try:
            lines = profile_edit.apply(Path(args.config), request)
        except profile_edit.ProfileEditError as e:
            raise cli.CliError(f"{e} (the key and its keystore entry were made)") from e
        print("\n".join(lines))
        print(f"{args.provider_id}/{args.key_name} encrypts {', '.join(request.patterns)}")
    return 0


def _fields_request(args: argparse.Namespace) -> profile_edit.EntityRequest | None:
    """--fields and --profile-id, checked before any key is made (the key Id is filled in afterwards)."""
    from . import profile_edit

    if not args.fields:
        if args.profile_id:
            raise cli.CliError("--profile-id goes with --fields")
        return None
    if not args.config or not args.profile_id:
        raise cli.CliError("--fields needs --config DIR and --profile-id ID")
    try:
        request = profile_edit.EntityRequest(
            args.profile_id, args.provider_id, "", profile_edit.parse_fields(args.fields)
        )
        profile_edit.precheck(Path(args.config), request)
    except profile_edit.ProfileEditError as e:
        raise cli.CliError(str(e)) from e
    return request


def _open(args: argparse.Namespace) -> Keystore:
    from keystore import KEYSTORE_ENV, Keystore, KeystoreError

    if not args.keystore:
        raise cli.CliError(f"give --keystore FILE (or set {KEYSTORE_ENV})")
    try:
        return Keystore.from_file(args.keystore)
    except KeystoreError as e:
        raise cli.CliError(str(e)) from e


def _where(entry: KeyEntry) -> str:
    return entry.settings.summary()


def run_list(args: argparse.Namespace) -> int:
    keystore = _open(args)
    for entry in keystore.entries:
        print(
            f"{entry.provider_id}/{entry.key_name}\t{entry.backend}\t{entry.wrapping.value}\t{_where(entry)}"
        )
    return 0


def _check_one(keystore: Keystore, entry: KeyEntry) -> str:
    from keystore import KeystoreError

    backend = keystore.backend(entry.provider_id, entry.key_name)
    data_key = secrets.token_bytes(32)
    start = time.perf_counter()
    wrapped = backend.public_key().encrypt(data_key, entry.wrapping.padding())
    if backend.unwrap(wrapped, entry.wrapping) != data_key:
        raise KeystoreError("the unwrapped data key differs from the one wrapped")
    detail = f"{(time.perf_counter() - start) * 1000:.1f} ms"
    health = getattr(backend, "health", None)
    if health is not None:
        for token in health():
            state = "healthy" if token.healthy else f"DOWN ({token.last_error})"
            modes = ", ".join(f"{w}: {m}" for w, m in token.modes.items())
            detail += f"; {token.name} {state}" + (f" [{modes}]" if modes else "")
    return detail


def run_check(args: argparse.Namespace) -> int:
    from keystore import KeystoreError

    keystore = _open(args)
    entries = [e for e in keystore.entries if not args.key_name or e.key_name in args.key_name]
    if not entries:
        raise cli.CliError("no matching keys in the keystore")
    failed = 0
    try:
        for entry in entries:
            name = f"{entry.provider_id}/{entry.key_name} ({entry.backend})"
            try:
                print(f"ok    {name}: {_check_one(keystore, entry)}", flush=True)
            except KeystoreError as e:
                failed += 1
                print(f"FAIL  {name}: {e}", flush=True)
    finally:
        keystore.close()
    return 1 if failed else 0
