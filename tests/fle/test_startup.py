"""`fle` starts light: a command imports what it runs, not what every other subcommand runs.

Each cmd_*.py module registers its parser with the standard library and constants only; aiohttp, boto3,
aws-encryption-sdk, edge_proxy, ... are imported by the run function that needs them
(docs/architecture.md, "Startup"). Before, every command paid for all of them: ~0.8 s of CPU for
`fle index plan`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_process import ROOT, fle_env

# what no light command may import: the web stack, the AWS SDKs, the services, version metadata
HEAVY = {
    "aiohttp",
    "boto3",
    "botocore",
    "aws_encryption_sdk",
    "edge_proxy",
    "reveal",
    "origin",
    "store",
    "keystore",
    "loadgen",
    "yarl",
    "asyncio",
    "importlib.metadata",
}

# runs `fle ARGS` in this process as the console script does, then writes the modules it imported
PROBE = """
import json, sys
from fle import cli
try:
    code = cli.main(sys.argv[2:])
except SystemExit as e:
    code = e.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def imported_by(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """(exit status, modules imported, stdout) of `fle ARGS` in a fresh interpreter."""
    report = tmp_path / "modules.json"
    process = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True, text=True, env=fle_env(), cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    found = json.loads(report.read_text())
    return found["code"], set(found["modules"]), process.stdout


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--help"], "Edge field-level encryption proxy and tools."),
        (["index", "plan", "--distinct", "1000"], "safe beacon lengths"),
        (["config", "check", "profiles/examples"], "profiles/examples: OK"),
        (["decrypt", "--help"], "processes decrypting a batch of 256+ values"),
        (["reveal", "--help"], "--routes FILE"),
    ],
)
def test_a_light_command_imports_no_heavy_package(tmp_path: Path, args: list[str], shown: str) -> None:
    code, modules, stdout = imported_by(tmp_path, *args)
    assert code == 0 and shown in " ".join(stdout.split()), stdout
    heavy = {name for name in modules if name in HEAVY or name.split(".")[0] in HEAVY}
    assert not heavy, f"fle {' '.join(args)} imported {sorted(heavy)}"


def test_the_probe_sees_what_a_command_imports(tmp_path: Path) -> None:
    """The check above can fail: `fle proxy --help` needs edge_proxy (its flags' defaults) and loads it."""
    code, modules, stdout = imported_by(tmp_path, "proxy", "--help")
    assert code == 0 and "--max-body-bytes" in stdout
    assert {"edge_proxy", "aiohttp"} <= modules
