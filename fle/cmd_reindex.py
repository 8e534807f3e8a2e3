"""`fle reindex --config DIR --index-keys FILE --store URL`: rewrite stored beacons under each index's
current key, the step of an index-key rotation that needs the private keys (docs/search-rotation.md).

For every index of the config's "Fle:Indexes" (or only --field ones), every stored value is decrypted with
the keystore (--keystore or FLE_KEYSTORE, the policy of `fle decrypt`: FLE_ACCEPTED_SUITES, ...),
normalized, and its beacon under the index's `Key` (from --index-keys or FLE_INDEX_KEYS) written to
`<field>__bidx` with a conditional write, unless it is already that (decryptor/reindex.py). Idempotent
and resumable: run it again after an interruption. Progress on stderr every 5 s, the counts on stdout at
the end, audit lines (`fle.reindex`, at the start and the end, never a value or a beacon) to --audit-file
or FLE_AUDIT_FILE, else `decrypt-audit.jsonl` beside the keystore file (`-`: stderr). Exit status 1 when a
value failed or an item changed meanwhile.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from blindindex.settings import INDEX_KEYS_ENV
from decryptor import config as settings
from logsafe import escape

from . import cli, cmd_decrypt, cmd_match

if TYPE_CHECKING:
    from decryptor.indexes import ConfigIndexes, StoredIndex
    from decryptor.reindex import Reindexer, ReindexReport

_SHOWN = 20  # items listed per kind of problem in the summary; the audit line lists more


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "reindex",
        help="rewrite stored blind-index beacons under each index's current key (index-key rotation)",
        description="Decrypt every indexed stored value, compute its beacon under the index's current Key "
        "and write it to <field>__bidx where it differs (conditional writes). Resumable and idempotent: "
        "run it again after an interruption. See docs/search-rotation.md.",
    )
    p.add_argument(
        "--config", metavar="DIR", help=f"CloudFront config with Fle:Indexes (default ${settings.CONFIG_ENV})"
    )
    p.add_argument("--index-keys", metavar="FILE", help=f"index-keys file (default ${INDEX_KEYS_ENV})")
    p.add_argument("--store", metavar="URL", help=f"store URL (default ${settings.STORE_ENV})")
    p.add_argument("--keystore", metavar="PATH", help=f"keystore file (default ${settings.KEYSTORE_ENV})")
    p.add_argument(
        "--field", action="append", dest="fields", metavar="NAME", help="only this indexed field (repeatable)"
    )
    p.add_argument("--dry-run", action="store_true", help="compute and count; write nothing")
    p.add_argument("--workers", type=int, default=4, metavar="N", help="values decrypted at once (default 4)")
    p.add_argument("--batch", type=int, default=100, metavar="N", help="items read per page (default 100)")
    p.add_argument(
        "--audit-file",
        metavar="PATH",
        help=f"append audit lines here ('-': stderr; default ${settings.AUDIT_FILE_ENV}, else "
        f"{cmd_decrypt.DEFAULT_AUDIT_NAME} beside the keystore file)",
    )
    p.set_defaults(run=run)


def chosen_indexes(indexes: ConfigIndexes, fields: list[str] | None) -> list[StoredIndex]:
    """The indexes to rewrite: all the config's, or those of `fields`; CliError for a field without one."""
    if not indexes.by_field:
        raise cli.CliError("the config has no blind index a stored item holds (Fle:Indexes)")
    if not fields:
        return list(indexes.by_field.values())
    unknown = [name for name in fields if name not in indexes.by_field]
    if unknown:
        known = ", ".join(sorted(indexes.by_field))
        raise cli.CliError(f"--field {', '.join(unknown)}: no index on it in the config (indexed: {known})")
    return [indexes.by_field[name] for name in dict.fromkeys(fields)]


class Progress:
    """A line on stderr at most every 5 s: items read, beacons rewritten."""

    def __init__(self) -> None:
        self.shown = time.monotonic()

    def __call__(self, report: ReindexReport) -> None:
        now = time.monotonic()
        if now - self.shown >= 5.0:
            self.shown = now
            print(
                f"reindex: {report.items} items read, {report.rewritten} beacons rewritten", file=sys.stderr
            )


def summary(report: ReindexReport, dry_run: bool) -> str:
    verb = "would rewrite" if dry_run else "rewrote"
    lines = [
        f"read {report.items} items holding {report.seen} indexed values (ciphertext) "
        f"in {report.seconds:.1f} s",
        f"{verb} {report.rewritten} beacons; {report.current} already current",
    ]
    if report.not_encrypted:
        lines.append(f"{report.not_encrypted} indexed fields are not ciphertext: left alone")
    if report.missing:
        which = ", ".join(f"{i} {n}" for i, n in report.missing[:_SHOWN])
        lines.append(
            f"{len(report.missing)} values have no <field>__bidx beacon (stored before the index existed); "
            f"not written, the store replaces existing values only: {which}"
        )
    for item_id, name in report.conflicts[:_SHOWN]:
        lines.append(f"CONFLICT {item_id} {name}: changed while being reindexed; left as it was (run again)")
    for item_id, name, reason, detail in report.failures[:_SHOWN]:
        lines.append(f"FAILED   {item_id} {name}: {reason}: {detail}")
    hidden = max(0, len(report.conflicts) - _SHOWN) + max(0, len(report.failures) - _SHOWN)
    if hidden:
        lines.append(f"... and {hidden} more (the audit line lists them)")
    return "\n".join(escape(line) for line in lines)  # a key name or an id from the store may hold a newline


async def _reindex(reindexer: Reindexer, store_url: str) -> ReindexReport:
    from store import open_store

    store = open_store(store_url, create=False)  # an existing store only: never make an empty one
    try:
        return await reindexer.run(store, Progress())
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    import asyncio

    from blindindex import BlindIndexError
    from blindindex.keys import IndexKeys
    from decryptor import AuditLog, Decryptor, DecryptorConfig, DecryptorConfigError
    from decryptor.indexes import ConfigIndexes
    from decryptor.reindex import Reindexer, ReindexError
    from keystore import Keystore, KeystoreError
    from store import StoreError

    env = cmd_decrypt.environment(args, cmd_match.OVERRIDES)
    index_keys_path = args.index_keys or env.get(INDEX_KEYS_ENV)
    if args.workers < 1 or args.batch < 1:
        raise cli.CliError("--workers and --batch must be at least 1")
    try:
        config = DecryptorConfig.from_env(env)
    except DecryptorConfigError as e:
        raise cli.CliError(str(e)) from e
    needed = [
        (config.config_dir, f"--config DIR (or set {settings.CONFIG_ENV})"),
        (index_keys_path, f"--index-keys FILE (or set {INDEX_KEYS_ENV})"),
        (config.store_url, f"--store URL (or set {settings.STORE_ENV})"),
        (config.keystore_path, f"--keystore PATH (or set {settings.KEYSTORE_ENV})"),
    ]
    for value, what in needed:
        if not value:
            raise cli.CliError(f"give {what}")
    assert config.config_dir and index_keys_path and config.store_url and config.keystore_path
    try:
        indexes = ConfigIndexes.load(config.config_dir)
    except DecryptorConfigError as e:
        raise cli.CliError(str(e)) from e
    chosen = chosen_indexes(indexes, args.fields)
    for pointer in indexes.unstored:
        print(
            f"reindex: index on {pointer} skipped: a stored item holds top-level fields only", file=sys.stderr
        )
    try:
        index_keys = IndexKeys.load(index_keys_path)
    except BlindIndexError as e:
        raise cli.CliError(str(e)) from e
    try:
        keystore = Keystore.from_file(config.keystore_path)
    except KeystoreError as e:
        index_keys.close()
        raise cli.CliError(str(e)) from e
    audit = AuditLog(cmd_decrypt.audit_destination(config), stream=sys.stderr)
    reindexer = Reindexer(
        Decryptor(keystore, config.policy), index_keys, chosen, audit,
        cmd_decrypt.cli_caller(), workers=args.workers, batch=args.batch, dry_run=args.dry_run,
    )  # fmt: skip
    try:
        reindexer.prepare()
        report = asyncio.run(_reindex(reindexer, config.store_url))
    except ReindexError as e:
        raise cli.CliError(str(e)) from e
    except StoreError as e:
        raise cli.CliError(f"store: {e}") from e
    finally:
        reindexer.close()
        index_keys.close()
        keystore.close()
        audit.close()
    print(summary(report, args.dry_run))
    return 0 if report.ok else 1
