"""`fle rewrap --from PROVIDER/OLD --to PROVIDER/NEW`: move stored values from an old key to a new one.

The keystore must hold both keys: the old one unwraps each data key, the new one is self-tested before
anything is written (and its public key wraps the data keys). With --config, the new key's public key
must also be the one the proxy's CloudFront config names, so what the proxy writes from now on and what
rewrap writes open with the same private key. Progress (of the table scan, then of the re-wrapping) goes to
stderr, the summary to stdout, audit lines to --audit-file (or FLE_AUDIT_FILE). Without either, audit lines
go to stderr when it is not a terminal (a log collector), and to a new file fle-rewrap-audit-TIME.jsonl
in the current directory when it is one, so JSON lines do not break up the progress line; `--audit-file -`
asks for stderr anyway. A run of 256+ values is re-wrapped on --processes worker processes (default
FLE_DECRYPT_PROCESSES or the cores), each opening the keystore file itself (decryptor/rewrap_processes.py).
Exit status 1 when any item failed or changed meanwhile.
See docs/key-rotation.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from decryptor.config import (
    AUDIT_FILE_ENV,
    KEYSTORE_ENV,
    MIN_PROCESS_BATCH,
    PROCESSES_ENV,
    STORE_ENV,
    processes_setting,
)

from . import cli, cmd_decrypt

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from decryptor import AuditLog
    from decryptor.rewrap import KeyRef, NewKey
    from decryptor.rewrap_store import RewrapReport
    from keystore import Keystore


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "rewrap",
        help="re-wrap stored values from an old key to a new one (data keys only, never the plaintext)",
        description="Re-wrap every stored value whose data key names the old key, for the new key. "
        "Resumable and idempotent: run it again after an interruption. See docs/key-rotation.md.",
    )
    p.add_argument("--from", dest="old", required=True, metavar="PROVIDER/KEY", help="e.g. FLEDemo/OldKey")
    p.add_argument("--to", dest="new", required=True, metavar="PROVIDER/KEY", help="e.g. FLEDemo/NewKey")
    p.add_argument("--keystore", metavar="PATH", help=f"keystore holding both keys (default ${KEYSTORE_ENV})")
    p.add_argument("--store", metavar="URL", help=f"store URL (default ${STORE_ENV})")
    p.add_argument("--config", metavar="DIR", help="check the new public key against this CloudFront config")
    p.add_argument("--dry-run", action="store_true", help="re-wrap in memory and report; write nothing")
    p.add_argument("--workers", type=int, default=4, metavar="N", help="data keys unwrapped at once")
    p.add_argument("--batch", type=int, default=50, metavar="N", help="items read per batch")
    p.add_argument(
        "--processes",
        metavar="N",
        help=f"processes re-wrapping a run of {MIN_PROCESS_BATCH}+ values, each with its own keystore "
        f"(default ${PROCESSES_ENV} or the number of cores; 1: threads only)",
    )
    p.add_argument(
        "--audit-file",
        metavar="PATH",
        help=f"append audit lines here; '-': stderr (default: ${AUDIT_FILE_ENV}, else stderr, or on a "
        "terminal a new fle-rewrap-audit-TIME.jsonl)",
    )
    p.set_defaults(run=run)


def key_ref(text: str) -> KeyRef:
    from decryptor.rewrap import KeyRef

    provider_id, sep, key_name = text.partition("/")
    if not sep or not provider_id or not key_name or "/" in key_name:
        raise cli.CliError(f"{text!r}: name a key as PROVIDER_ID/KEY_NAME, e.g. FLEDemo/DemoPublicKey")
    return KeyRef(provider_id, key_name)


def _pem(key: rsa.RSAPublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_config(directory: str, new: NewKey) -> None:
    """CliError unless the CloudFront config in `directory` has a public key named like the new key, equal
    to the keystore's, used by an entity with the new provider id."""
    from profiles import ConfigError, load_config_dir

    try:
        configs = load_config_dir(directory)
    except ConfigError as e:
        raise cli.CliError(f"--config: {e}") from e
    keys = [k for k in configs.public_keys.values() if k.name == new.ref.key_name]
    if not keys:
        raise cli.CliError(f"--config {directory}: no public key named {new.ref.key_name!r}")
    if _pem(keys[0].key) != _pem(new.public_key):
        raise cli.CliError(
            f"--config {directory}: public key {new.ref.key_name!r} differs from the keystore's new key"
        )
    providers = {
        e.provider_id
        for p in configs.profiles.values()
        for e in p.entities
        if e.public_key.name == keys[0].name
    }
    if new.ref.provider_id not in providers:
        raise cli.CliError(
            f"--config {directory}: no profile uses key {new.ref.key_name!r} with provider "
            f"{new.ref.provider_id!r}"
        )


class ProgressLine:
    """`done/total items, rate` on stderr: rewritten in place on a terminal, a line every 5 s otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.shown = 0.0

    def scanning(self, scanned: int) -> None:
        """The plan's table scan: items read so far (the table's size is not known in advance)."""
        now = time.monotonic()
        if now - self.shown < (0.2 if self.tty else 5.0):
            return
        self.shown = now
        rate = scanned / max(now - self.started, 1e-6)
        text = f"rewrap: scanning the table, {scanned} items read, {rate:.1f} items/s"
        self.stream.write(("\r\x1b[K" + text) if self.tty else text + "\n")
        self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        last = done == total
        if not last and now - self.shown < (0.2 if self.tty else 5.0):
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-6)
        share = f" ({100 * done / total:.0f}%)" if total else ""
        text = f"rewrap: {done}/{total} items{share}, {rate:.1f} items/s"
        self.stream.write(("\r\x1b[K" + text + ("\n" if last else "")) if self.tty else text + "\n")
        self.stream.flush()


def summary(report: RewrapReport, dry_run: bool) -> str:
    verb = "would re-wrap" if dry_run else "re-wrapped"
    lines = [
        f"scanned {report.scanned} items; {report.planned} held values for the old key",
        f"{verb} {report.rewrapped_fields} values in {report.rewrapped_items} items "
        f"in {report.seconds:.1f} s",
    ]
    if report.unreadable:
        count = len(report.unreadable)
        which = ", ".join(f"{i} {n}" for i, n in report.unreadable[:20])
        look = "value looks" if count == 1 else "values look"
        lines.append(
            f"{count} {look} like ciphertext but cannot be read (left as is; no key opens it): {which}"
        )
    for item_id in report.conflicts:
        lines.append(f"CONFLICT {item_id}: changed while being re-wrapped; left as it was (run again)")
    for item_id, fields in report.failures.items():
        for name, reason in fields.items():
            lines.append(f"FAILED   {item_id} {name}: {reason}")
    return "\n".join(lines)


async def _rewrap(
    args: argparse.Namespace, keystore: Keystore, keystore_path: str, store_url: str, audit: AuditLog
) -> RewrapReport:
    import asyncio

    from decryptor.rewrap import RewrapError
    from decryptor.rewrap_store import Rewrapper, new_key_for
    from keystore import KeystoreError
    from store import open_store

    old, new_ref = key_ref(args.old), key_ref(args.new)
    if old == new_ref:
        raise cli.CliError("--from and --to name the same key")
    try:
        keystore.entry(old.provider_id, old.key_name)
        new = await asyncio.to_thread(new_key_for, keystore, new_ref)
    except (KeystoreError, RewrapError) as e:
        raise cli.CliError(str(e)) from e
    if args.config:
        check_config(args.config, new)
    store = open_store(store_url, create=False)  # an existing store only: never make an empty one
    try:
        try:
            rewrapper = await asyncio.to_thread(  # opens the old key's backend: blocking
                Rewrapper, keystore, store, old, new, audit, cmd_decrypt.cli_caller(),
                workers=args.workers, batch=args.batch, dry_run=args.dry_run,
                processes=args.processes, keystore_path=keystore_path,
            )  # fmt: skip
        except KeystoreError as e:
            raise cli.CliError(f"old key {old}: {e}") from e
        try:
            progress = ProgressLine()
            return await rewrapper.run(progress, progress.scanning)
        except RewrapError as e:
            raise cli.CliError(str(e)) from e
        finally:
            rewrapper.close()
    finally:
        await store.close()


def audit_target(chosen: str | None, stderr: TextIO) -> str | None:
    """Where audit lines go: the chosen file; stderr for '-' or when stderr is not a terminal; on a terminal,
    a new file in the current directory (named on stderr), so the lines do not mix with the progress line."""
    if chosen == "-":
        return None
    if chosen or not stderr.isatty():
        return chosen
    path = Path(f"fle-rewrap-audit-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl").absolute()
    print(f"rewrap: audit lines go to {path} (--audit-file to choose)", file=stderr, flush=True)
    return str(path)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from decryptor import AuditLog, DecryptorConfigError
    from keystore import Keystore
    from store import StoreError

    keystore_path = args.keystore or os.environ.get(KEYSTORE_ENV)
    store_url = args.store or os.environ.get(STORE_ENV)
    if not keystore_path:
        raise cli.CliError(f"give --keystore PATH (or set {KEYSTORE_ENV})")
    if not store_url:
        raise cli.CliError(f"give --store URL (or set {STORE_ENV})")
    if args.workers < 1 or args.batch < 1:
        raise cli.CliError("--workers and --batch must be at least 1")
    env = dict(os.environ)
    if args.processes is not None:  # the flag overrides the variable, as in `fle decrypt`
        env[PROCESSES_ENV] = str(args.processes)
    try:
        args.processes = processes_setting(env)
    except DecryptorConfigError as e:
        raise cli.CliError(str(e)) from e
    try:
        keystore = Keystore.from_file(Path(keystore_path))
        audit_path = audit_target(args.audit_file or os.environ.get(AUDIT_FILE_ENV), sys.stderr)
        audit = AuditLog(audit_path, stream=sys.stderr)
    except Exception as e:
        raise cli.CliError(str(e)) from e
    try:
        report = asyncio.run(_rewrap(args, keystore, str(Path(keystore_path).absolute()), store_url, audit))
    except StoreError as e:
        raise cli.CliError(f"store: {e}") from e
    finally:
        keystore.close()
        audit.close()
    print(summary(report, args.dry_run))
    return 0 if report.ok else 1
