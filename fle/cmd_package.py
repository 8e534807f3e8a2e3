"""`fle package lambda --output PATH.zip`: the decryptor as an AWS Lambda deployment package.

Thin: parses, calls fle/lambda_package.py, prints what went in and the sizes. See docs/decryptor.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import cli

DEFAULT_LOCK = Path(__file__).resolve().parent.parent / "requirements" / "runtime.txt"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("package", help="build deployment packages (the decryptor for AWS Lambda)")
    # the targets' help and choices come from lambda_package (which imports keystore): read when parsed
    cli.defer(p, _targets)


def _targets(p: argparse.ArgumentParser) -> None:
    from .lambda_deps import HANDLER
    from .lambda_package import ARCHES, RUNTIME_GLIBC

    sub = p.add_subparsers(dest="package_command", required=True, metavar="TARGET")
    lam = sub.add_parser(
        "lambda",
        help="a zip for the Lambda Python runtime, handler " + HANDLER,
        description="Build a self-contained zip for the AWS Lambda Python runtime: the decryptor, keystore "
        "and store packages and their locked dependencies as binary wheels for the target platform.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    lam.add_argument("--output", required=True, type=Path, metavar="PATH.zip", help="the zip to write")
    lam.add_argument("--arch", default="x86_64", choices=ARCHES, help="the function's architecture")
    lam.add_argument("--python", default="3.11", choices=sorted(RUNTIME_GLIBC), help="the Lambda runtime")
    lam.add_argument(
        "--with-pkcs11",
        action="store_true",
        help="add python-pkcs11 for backend = 'pkcs11' (the HSM's own PKCS#11 library goes in a layer)",
    )
    lam.add_argument(
        "--keystore",
        type=Path,
        metavar="PATH",
        help="ship this keystore file as keystore.toml (set FLE_KEYSTORE=/var/task/keystore.toml)",
    )
    lam.add_argument("--lock", type=Path, default=DEFAULT_LOCK, metavar="PATH", help="the pins to install")
    lam.set_defaults(run=run_lambda)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def run_lambda(args: argparse.Namespace) -> int:
    from .lambda_deps import HANDLER, PackageError
    from .lambda_package import PackageSpec, build

    spec = PackageSpec(args.output, args.lock, args.arch, args.python, args.with_pkcs11, args.keystore)
    try:
        built = build(spec, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except PackageError as e:
        raise cli.CliError(str(e)) from e
    print(f"wrote {built.path} for Lambda Python {spec.python} {spec.arch}, handler {HANDLER}")
    print(f"packages: {', '.join(built.packages)}")
    print(f"distributions: {', '.join(built.distributions)}")
    if not built.compiled:
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        print(f"no bytecode: this is Python {here}, not {spec.python} (cold starts compile every module)")
    print(f"size: {_mb(built.zipped_bytes)} zipped, {_mb(built.unzipped_bytes)} unzipped")
    for warning in built.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return 0
