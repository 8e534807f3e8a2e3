"""Issue 25.8: `python -m benchmarks` writes no committed file unless asked (--write-docs), and what a run
needs beyond the base install (the bench extra's matplotlib, moto for bench_decrypt) is said in one line
before anything is measured, not after half a minute of measuring (or a 30 s wait for a moto server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


# --- issue 25.8: a run writes no committed file unless asked; what is missing is said before measuring ----

# runs a module with some imports made impossible, as on an install without the extra that brings them
_WITHOUT = """
import importlib.abc, runpy, sys
blocked = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
module = sys.argv[2]
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(
    ("blocked", "command", "expected"),
    [
        ("matplotlib", ["benchmarks", "--quick"],
         "python -m benchmarks: the Python module matplotlib is missing: install the bench extra: "
         "pip install -e '.[bench]'"),
        ("moto", ["benchmarks.bench_decrypt"],
         "bench_decrypt: the Python module moto is missing: install the test extra"),
    ],
)  # fmt: skip
def test_a_missing_extra_is_one_line_before_anything_is_measured(
    blocked: str, command: list[str], expected: str
) -> None:
    report = ROOT / "docs" / "benchmarks-proxy.md"
    before = report.stat().st_mtime_ns
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _WITHOUT, blocked, *command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith(expected), done.stderr
    assert "[" not in done.stderr.split(":")[0]  # no "[12:00:00] headline: ..." step line: nothing ran
    assert report.stat().st_mtime_ns == before


def test_the_report_goes_to_an_ignored_directory_unless_the_docs_are_asked_for() -> None:
    from benchmarks.__main__ import DEFAULT_OUT, DOCS_REPORT, parse_args, report_path

    assert DEFAULT_OUT == ROOT / "benchmark-results" / "benchmarks-proxy.md"
    assert report_path(parse_args(["--quick"])) == DEFAULT_OUT
    assert report_path(parse_args(["--write-docs"])) == DOCS_REPORT == ROOT / "docs" / "benchmarks-proxy.md"
    assert report_path(parse_args(["--out", "/tmp/x.md", "--write-docs"])) == Path("/tmp/x.md")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEFAULT_OUT)], cwd=ROOT, timeout=30)
    assert ignored.returncode == 0, "benchmark-results/ must be in .gitignore"
