"""`fle config check | export-cloudformation | use-key DIR`: a configuration, offline.

`check` validates a directory with the loader `fle proxy` uses and says what each content type and
query argument will do; every problem is printed with its file and JSON path and the exit status is 1.
With `--index-keys` it also checks that every blind index's Key exists in that file; with `--distinct
FIELD=X` it warns when an index's Bits is outside the safe window for X distinct values.
`export-cloudformation` writes the same configuration as a CloudFormation template (JSON) for CloudFront.
`use-key` points a profile's entities from one public key to another (key rotation, docs/key-rotation.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from blindindex.settings import INDEX_KEYS_ENV

from . import cmd_index

if TYPE_CHECKING:
    from profiles import ConfigSet

EXPORT_NAME = "fle-cloudfront.json"  # the file an --output directory gets


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("config", help="check a configuration directory, or export it for CloudFront")
    sub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")

    check = sub.add_parser(
        "check",
        help="validate a directory offline and print what each content type and query argument will do",
    )
    check.add_argument("directory", metavar="DIR", help="directory of CloudFront FLE JSON files")
    check.add_argument(
        "--distinct",
        action="append",
        type=_distinct,
        default=[],
        metavar="FIELD=X",
        help="the field (an index's Field or Name) has X distinct values: warn when its index's Bits is "
        "outside the safe window for X (fle index plan); repeatable",
    )
    check.add_argument(
        "--index-keys",
        default=os.environ.get(INDEX_KEYS_ENV),
        metavar="FILE",
        help=f"also check that every index's Key is an [[index_key]] of FILE, and FILE's keys load "
        f"(default: ${INDEX_KEYS_ENV}, if set)",
    )
    check.set_defaults(run=run_check)

    export = sub.add_parser(
        "export-cloudformation",
        help="write the directory as CloudFormation resources: CloudFront public keys, FLE profiles, configs",
    )
    export.add_argument("directory", metavar="DIR", help="directory of CloudFront FLE JSON files")
    export.add_argument(
        "--output",
        metavar="FILE",
        help=f"write the template here; an existing directory gets {EXPORT_NAME} in it (default: stdout)",
    )
    export.set_defaults(run=run_export)

    use_key = sub.add_parser(
        "use-key",
        help="point a profile's encryption entities from one public key to another (key rotation)",
    )
    use_key.add_argument("directory", metavar="DIR", help="directory of CloudFront FLE JSON files")
    use_key.add_argument(
        "--profile-id", metavar="ID", required=True, help="the profile to change, e.g. PDEMO"
    )
    use_key.add_argument(
        "--from", dest="old_name", metavar="KEY_NAME", required=True, help="the old public key's Name"
    )
    use_key.add_argument(
        "--to", dest="new_name", metavar="KEY_NAME", required=True, help="the new public key's Name"
    )
    use_key.set_defaults(run=run_use_key)


def _distinct(text: str) -> tuple[str, int]:
    """FIELD=X, X a whole number of distinct values."""
    field, _, number = text.rpartition("=")
    if not field:
        raise argparse.ArgumentTypeError(f"{text!r}: give FIELD=X, e.g. phone=1000000")
    try:
        return field, cmd_index.count(number)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: X {e}") from None


def _index_problems(configs: ConfigSet, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the profiles' blind indexes against --distinct and --index-keys."""
    from blindindex import BlindIndexError, safe_lengths
    from blindindex.keys import IndexKeys

    indexes = [(profile, index) for profile in configs.profiles.values() for index in profile.indexes]
    problems: list[str] = []
    warnings: list[str] = []
    for field, distinct in args.distinct:
        chosen = [(p, i) for p, i in indexes if field in (i.field, i.name)]
        if not chosen:
            problems.append(
                f"--distinct {field}={distinct}: no profile has an index on Field or Name {field!r}"
            )
        window = [plan.bits for plan in safe_lengths(distinct)]
        for profile, index in chosen:
            if index.bits in window:
                continue
            safe = f"the safe lengths are {window[0]} to {window[-1]}" if window else "no length is safe"
            warnings.append(
                f"profile {profile.id}: index {index.name!r} on {index.field} has Bits {index.bits}; for "
                f"{distinct} distinct values {safe} (fle index plan --distinct {distinct})"
            )
    if args.index_keys:
        try:
            with IndexKeys.load(args.index_keys) as keys:
                names = keys.names
        except BlindIndexError as e:
            problems.append(str(e))
            return problems, warnings
        for profile, index in indexes:
            if index.key not in names:
                known = ", ".join(sorted(names)) or "none"
                problems.append(
                    f"profile {profile.id}: index {index.name!r} names Key {index.key!r}, which "
                    f"{args.index_keys} does not define (its index keys: {known})"
                )
    return problems, warnings


def run_check(args: argparse.Namespace) -> int:
    from profiles.check import check_config_dir
    from profiles.describe import describe

    configs, problems = check_config_dir(args.directory)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if configs is None:
        print(f"{args.directory}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    index_problems, warnings = _index_problems(configs, args)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for message in index_problems:
        print(f"error: {message}", file=sys.stderr)
    if index_problems:
        print(f"{args.directory}: {len(index_problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.directory}: OK")
    for line in describe(configs):
        print(line)
    return 0


def _keys_only_hint(directory: str) -> str:
    """What to do with a DIR of public keys and no config (what `fle keys create --config DIR` makes)."""
    path = Path(directory)
    if path.is_dir() and any(path.glob("*.json")):
        return (
            " (it holds public keys only: a config and a profile come with "
            "fle keys create ... --config DIR --fields phone --profile-id PFORM)"
        )
    return ""


def run_export(args: argparse.Namespace) -> int:
    from profiles import ConfigError, NoFleConfig, load_config_dir
    from profiles.cloudformation import to_cloudformation

    try:
        template = to_cloudformation(load_config_dir(args.directory))
    except ConfigError as e:
        hint = _keys_only_hint(args.directory) if isinstance(e, NoFleConfig) else ""
        print(f"error: {e}{hint}", file=sys.stderr)
        return 1
    text = json.dumps(template, indent=2) + "\n"
    if args.output:
        output = Path(args.output)
        if output.is_dir():
            output = output / EXPORT_NAME
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            print(f"error: --output {args.output}: cannot write it ({e.strerror or e})", file=sys.stderr)
            return 1
        print(f"wrote {output} ({len(template['Resources'])} resources)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_use_key(args: argparse.Namespace) -> int:
    from . import profile_edit

    switch = profile_edit.KeySwitch(args.profile_id, args.old_name, args.new_name)
    try:
        lines = profile_edit.switch_key(Path(args.directory), switch)
    except profile_edit.ProfileEditError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
