"""`fle match --field F --term B64 [ID ...]`: which candidate items hold the term's value (docs/decryptor.md).

The candidates are item ids (arguments, else stdin, one a line), typically what a lookup by beacon found;
the term is the ciphertext the edge wrote for the searched value. Prints the ids that match, one a line,
on stdout; nothing else there, never a plaintext. The normalizer is the config's for the field (--config or
FLE_CONFIG), else --normalize. Settings and the audit file as `fle decrypt` (FLE_KEYSTORE, FLE_STORE, ...;
audit lines in `decrypt-audit.jsonl` beside the keystore unless --audit-file): one `fle.match` line per
call. stderr: one line per candidate that could not be compared (its reason code), or the term's reason.
Exit status 0 when every candidate was compared, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from decryptor import config as settings
from decryptor.events import MAX_CANDIDATES
from logsafe import escape

from . import cli, cmd_decrypt

# flag -> the environment variable it overrides, as in `fle decrypt` (fle reindex takes the same four)
OVERRIDES = {
    "keystore": settings.KEYSTORE_ENV,
    "store": settings.STORE_ENV,
    "config": settings.CONFIG_ENV,
    "audit_file": settings.AUDIT_FILE_ENV,
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "match",
        help="which candidate items hold the value a search term's ciphertext holds (prints their ids)",
        description="Decrypt the term and each candidate's field, normalize both by the field's index "
        "normalizer and print the ids that are equal. Candidates as arguments or on stdin, one a line "
        f"(at most {MAX_CANDIDATES}).",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="candidate item ids (default: stdin, one a line)")
    p.add_argument("--field", required=True, help="the protected field's stored name, e.g. phone")
    p.add_argument("--term", required=True, metavar="B64", help="the search term's ciphertext (base64)")
    p.add_argument(
        "--normalize", metavar="NAME", help="the field's normalizer (e.g. digits) when there is no --config"
    )
    p.add_argument(
        "--config", metavar="DIR", help=f"CloudFront config with Fle:Indexes (default ${settings.CONFIG_ENV})"
    )
    p.add_argument("--keystore", metavar="PATH", help=f"keystore file (default ${settings.KEYSTORE_ENV})")
    p.add_argument("--store", metavar="URL", help=f"store URL (default ${settings.STORE_ENV})")
    p.add_argument("--json", action="store_true", help="print the handler's answer as one JSON line instead")
    p.add_argument(
        "--audit-file",
        metavar="PATH",
        help=f"append the audit line here ('-': stderr; default ${settings.AUDIT_FILE_ENV}, else "
        f"{cmd_decrypt.DEFAULT_AUDIT_NAME} beside the keystore file)",
    )
    p.set_defaults(run=run)


def _ids(args: argparse.Namespace) -> list[str]:
    if args.ids:
        return list(args.ids)
    if sys.stdin.isatty():
        print("paste candidate ids, one per line, then Ctrl-D", file=sys.stderr)
    return [line.strip() for line in sys.stdin if line.strip()]


def run(args: argparse.Namespace) -> int:
    from decryptor import (
        AuditLog,
        BadRequest,
        DecryptorConfig,
        DecryptorConfigError,
        DecryptService,
        parse_request,
    )
    from keystore import KeystoreError
    from store import StoreError

    env = cmd_decrypt.environment(args, OVERRIDES)
    body: dict[str, object] = {"field": args.field, "term": args.term, "ids": _ids(args)}
    if args.normalize is not None:
        body["normalize"] = args.normalize
    try:
        request = parse_request({"match": body})
        config = DecryptorConfig.from_env(env)
        if logging.getLogger().level == logging.INFO:
            logging.getLogger().setLevel(logging.WARNING)  # as fle decrypt: stderr is for what went wrong
        if not config.keystore_path:
            raise DecryptorConfigError(f"set {settings.KEYSTORE_ENV} to the path of the keystore file")
        audit = AuditLog(cmd_decrypt.audit_destination(config), stream=sys.stderr)
        service = DecryptService(config, audit=audit)
    except (BadRequest, DecryptorConfigError, KeystoreError) as e:
        raise cli.CliError(str(e)) from e
    try:
        answer = service.run(request, cmd_decrypt.cli_caller())
    except (BadRequest, DecryptorConfigError) as e:
        raise cli.CliError(str(e)) from e
    except StoreError as e:
        raise cli.CliError(f"store: {e}") from e
    finally:
        service.close()
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
    else:
        for item_id in answer["ids"]:
            print(escape(item_id))
    if "error" in answer:
        print(f"fle match: the term cannot be used: {answer['error']}", file=sys.stderr)
    for error in answer["errors"]:
        print(escape(f"fle match: item {error['id']}: {error['error']}"), file=sys.stderr)
    return 1 if "error" in answer or answer["errors"] else 0
