"""`fle deploy systemd --output DIR`: the systemd units of deploy/systemd/, rendered for this install.

The committed units name `/opt/fle-edge/.venv/bin/fle` (where deploy/systemd/README.md installs it);
`systemd-analyze verify` insists that ExecStart's program exists, so on any other layout they fail it.
This writes them with the `fle` that runs this command (or --fle) and this checkout's docs instead, ready
for `systemd-analyze verify DIR/*.service` and for /etc/systemd/system.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import cli

CHECKOUT = Path(__file__).resolve().parent.parent
UNITS = CHECKOUT / "deploy" / "systemd"
INSTALLED_AT = "/opt/fle-edge"  # the prefix the committed units name
INSTALLED_FLE = f"{INSTALLED_AT}/.venv/bin/fle"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("deploy", help="write deployment files for this install (systemd units)")
    sub = p.add_subparsers(dest="deploy_command", required=True, metavar="KIND")
    systemd = sub.add_parser(
        "systemd",
        help="write deploy/systemd/*.service with this install's fle in ExecStart (they then verify here)",
    )
    systemd.add_argument("--output", required=True, metavar="DIR", help="directory to write the units to")
    systemd.add_argument(
        "--fle", metavar="PATH", help="the fle program the units run (default: the one running this command)"
    )
    systemd.set_defaults(run=run_systemd)


def running_fle() -> Path | None:
    """The `fle` program of this install: argv[0] when it is one, else `fle` beside this Python."""
    argv0 = Path(sys.argv[0])
    candidates = [argv0] if argv0.name == "fle" else []
    candidates.append(Path(sys.executable).parent / "fle")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    return None


def render(unit_text: str, fle: Path, checkout: Path) -> str:
    """A committed unit with `fle` as its program and `checkout` for its documentation links."""
    return unit_text.replace(INSTALLED_FLE, str(fle)).replace(f"file:{INSTALLED_AT}/", f"file:{checkout}/")


def run_systemd(args: argparse.Namespace) -> int:
    fle = Path(args.fle).absolute() if args.fle else running_fle()
    if fle is None:
        raise cli.CliError("cannot tell which fle program the units should run: give --fle PATH")
    if not (fle.is_file() and os.access(fle, os.X_OK)):
        raise cli.CliError(f"--fle {fle}: not an executable file")
    if any(c.isspace() for c in str(fle)):
        raise cli.CliError(f"--fle {fle}: a path with white space cannot be a unit's ExecStart program")
    units = sorted(UNITS.glob("*.service"))
    if not units:
        raise cli.CliError(f"no units in {UNITS}: run this from a checkout of fle-edge")
    output = Path(args.output)
    try:
        output.mkdir(parents=True, exist_ok=True)
        for unit in units:
            (output / unit.name).write_text(render(unit.read_text(), fle, CHECKOUT), encoding="utf-8")
    except OSError as e:
        raise cli.CliError(f"--output {output}: cannot write the units there ({e.strerror or e})") from e
    for unit in units:
        print(output / unit.name)
    return 0
