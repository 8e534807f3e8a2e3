"""`fle decrypt`: decrypt stored items (--id, --recent) or base64 ciphertexts read from stdin.

Settings come from the same environment variables as the Lambda handler (FLE_KEYSTORE, FLE_STORE, ...);
a flag overrides its variable. Output: a readable table, or JSON lines with --json (one per value or
item, the handler's answer shapes), on stdout.

stderr holds what the operator must read: one line per value that could not be decrypted, with its reason
code and what went wrong (`no private key for P/K in this keystore`, a wrong passphrase or PIN, a policy
refusal; a corrupt, tampered or wrong-key message stays one opaque sentence), then log lines of level
WARNING and above (everything with --log-level DEBUG). The audit's JSON lines go to a file: --audit-file
(or FLE_AUDIT_FILE), else `decrypt-audit.jsonl` beside the keystore file; `--audit-file -` sends them to
stderr instead. Exit status 1 when any value or item could not be decrypted.

The operator running this holds the keystore, so the words that the Lambda handler keeps for its audit
line (the caller sees a code only) are shown here; a problem with the whole run (keystore file, settings,
store) is one line on stderr naming it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decryptor import config as settings
from decryptor.config import MIN_PROCESS_BATCH
from logsafe import escape

from . import cli

if TYPE_CHECKING:
    from decryptor import Caller, DecryptError, DecryptorConfig, Subject

# flag -> the environment variable it overrides
_OVERRIDES = {
    "keystore": settings.KEYSTORE_ENV,
    "store": settings.STORE_ENV,
    "accepted_suites": settings.SUITES_ENV,
    "max_data_keys": settings.MAX_DATA_KEYS_ENV,
    "max_message_bytes": settings.MAX_MESSAGE_ENV,
    "workers": settings.WORKERS_ENV,
    "processes": settings.PROCESSES_ENV,
    "audit_file": settings.AUDIT_FILE_ENV,
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "decrypt",
        help="decrypt stored items or ciphertexts (keystore from FLE_KEYSTORE, store from FLE_STORE)",
        description="Decrypt stored items (--id, --recent) or base64 ciphertexts from stdin, one a line.",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--id", action="extend", nargs="+", dest="ids", metavar="ID", help="stored item id(s) (repeatable)"
    )
    group.add_argument("--recent", type=int, metavar="N", help="the N newest stored items")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument("--keystore", metavar="PATH", help=f"keystore file (default ${settings.KEYSTORE_ENV})")
    p.add_argument("--store", metavar="URL", help=f"store URL (default ${settings.STORE_ENV})")
    p.add_argument(
        "--accepted-suites",
        metavar="IDS",
        help=f"algorithm suites accepted, e.g. 0x0178,0x0478 (default ${settings.SUITES_ENV} or "
        "0x0178,0x0478,0x0578)",
    )
    p.add_argument("--max-data-keys", metavar="N", help="most encrypted data keys per message (default 1)")
    p.add_argument("--max-message-bytes", metavar="N", help="largest message accepted (default 65536)")
    p.add_argument("--workers", metavar="N", help="values decrypted at once (default 8)")
    p.add_argument(
        "--processes",
        metavar="N",
        help=f"processes decrypting a batch of {MIN_PROCESS_BATCH}+ values, each with its own keystore "
        f"(default ${settings.PROCESSES_ENV} or the number of cores; 1: threads only)",
    )
    p.add_argument(
        "--audit-file",
        metavar="PATH",
        help=f"append audit lines here ('-': stderr; default ${settings.AUDIT_FILE_ENV}, else "
        f"{DEFAULT_AUDIT_NAME} beside the keystore file)",
    )
    p.set_defaults(run=run)


DEFAULT_AUDIT_NAME = "decrypt-audit.jsonl"
AUDIT_TO_STDERR = "-"


def audit_destination(config: DecryptorConfig) -> str | None:
    """Where the audit lines go: the file asked for, else beside the keystore; None: stderr."""
    if config.audit_file == AUDIT_TO_STDERR:
        return None
    if config.audit_file:
        return config.audit_file
    assert config.keystore_path is not None  # run() refuses a config without one before asking
    return str(Path(config.keystore_path).parent / DEFAULT_AUDIT_NAME)


def error_lines(refused: list[tuple[Subject, DecryptError]], rows: list[dict[str, Any]]) -> list[str]:
    """One line per value not decrypted, in the answer's order: where, reason code, the words."""
    position = {
        (row.get("id"), name): (n, f)
        for n, row in enumerate(rows)
        for f, name in enumerate(row.get("fields", {}))
    }

    def where(subject: Subject) -> str:
        if subject.index is not None:
            return f"value {subject.index + 1}"
        return f"item {subject.item_id} field {subject.field}"

    def order(refusal: tuple[Subject, DecryptError]) -> tuple[int, int]:
        subject = refusal[0]
        if subject.index is not None:
            return (subject.index, 0)
        return position.get((subject.item_id, subject.field), (len(rows), 0))

    ordered = sorted(refused, key=order)
    return [f"fle decrypt: {where(subject)}: {error.reason}: {error.message}" for subject, error in ordered]


def cli_caller() -> Caller:
    """The local user, for the audit log."""
    from decryptor import Caller

    return Caller("cli", {"user": getpass.getuser(), "uid": str(os.getuid()), "host": socket.gethostname()})


def _event(args: argparse.Namespace) -> dict[str, object]:
    if args.ids:
        return {"ids": args.ids}
    if args.recent is not None:
        return {"recent": args.recent}
    if sys.stdin.isatty():
        print("paste base64 ciphertexts, one per line, then Ctrl-D", file=sys.stderr)
    return {"ciphertexts": [line.strip() for line in sys.stdin if line.strip()]}


def environment(args: argparse.Namespace, overrides: dict[str, str]) -> dict[str, str]:
    """The process environment with each flag given (`overrides`: flag -> variable) over its variable:
    the one way `fle decrypt`, `fle match` and `fle reindex` let a flag override the decryptor's setting."""
    env = dict(os.environ)
    for flag, variable in overrides.items():
        if getattr(args, flag) is not None:
            env[variable] = str(getattr(args, flag))
    return env


def run(args: argparse.Namespace) -> int:
    from decryptor import BadRequest, DecryptorConfig, DecryptorConfigError, DecryptService, parse_request
    from keystore import KeystoreError
    from store import StoreError

    from .decrypt_audit import NotingAudit

    env = environment(args, _OVERRIDES)
    try:
        request = parse_request(_event(args))
        config = DecryptorConfig.from_env(env)
        if logging.getLogger().level == logging.INFO:
            # stderr is for what went wrong: routine notices (botocore's credential source, the mechanism a
            # token was probed for) would bury it; warnings and errors still show
            logging.getLogger().setLevel(logging.WARNING)
        if not config.keystore_path:
            raise DecryptorConfigError(f"set {settings.KEYSTORE_ENV} to the path of the keystore file")
        audit_path = audit_destination(config)
        audit = NotingAudit(audit_path, stream=sys.stderr)
        service = DecryptService(config, audit=audit)
    except (BadRequest, DecryptorConfigError, KeystoreError) as e:
        raise cli.CliError(str(e)) from e
    try:
        answer = service.run(request, cli_caller())
    except StoreError as e:
        raise cli.CliError(f"store: {e}") from e
    finally:
        service.close()
    rows: list[dict[str, Any]] = answer.get("results", answer.get("items", []))
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(render_table(answer))
    for line in error_lines(audit.refused, rows):
        print(escape(line), file=sys.stderr)  # a provider id or key name from a ciphertext may hold a newline
    failed = any("error" in row or row.get("errors") for row in rows)
    if audit.refused and audit_path is not None:
        print(f"fle decrypt: the audit lines are in {audit_path}", file=sys.stderr)
    return 1 if failed else 0


def _shown(result: dict[str, str]) -> str:
    if "error" in result:
        return f"ERROR: {result['error']}"
    return result.get("plaintext", f"(base64) {result.get('plaintext_base64')}")


def render_table(answer: dict[str, Any]) -> str:
    """The answer as aligned columns: one row per value (ciphertexts) or per field (items)."""
    rows: list[tuple[str, ...]]
    if "results" in answer:
        header: tuple[str, ...] = ("#", "plaintext")
        rows = [(str(i + 1), _shown(r)) for i, r in enumerate(answer["results"])]
    else:
        header = ("id", "received", "field", "value")
        rows = []
        for item in answer["items"]:
            first = (item["id"], item.get("received_at", ""))
            if "error" in item:
                rows.append((*first, "", f"ERROR: {item['error']}"))
                continue
            for n, (name, value) in enumerate(item["fields"].items()):
                shown = f"ERROR: {item['errors'][name]}" if name in item["errors"] else value
                rows.append((*(first if n == 0 else ("", "")), name, shown))
            if not item["fields"]:
                rows.append((*first, "", "(no fields)"))
    table = [header, *(tuple(map(escape, row)) for row in rows)]  # a plaintext may hold a newline
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )
