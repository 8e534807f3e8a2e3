"""docs/architecture.md's walk of one form POST states how many of our modules it runs: measured by
benchmarks/walk.py, it must be the number the page gives, and every module measured must be on the page.

The walk runs in a process of its own: in the test session, what earlier tests left installed (log
handlers, patched modules) would add calls that are not the request's.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.fixtures_process import ROOT, run_module

PAGE = ROOT / "docs" / "architecture.md"


def test_the_page_states_the_walk_as_measured() -> None:
    done = run_module("benchmarks.walk", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = [line for line in done.stdout.splitlines() if line.endswith(".py")]
    section = PAGE.read_text().split("## One form POST, from the socket to the origin")[1].split("\n## ")[0]
    stated = re.search(r"sees code run in \*\*(\d+) of our modules\*\*", section)
    assert stated is not None and int(stated.group(1)) == len(modules), (
        f"run: python -m benchmarks.walk\n{modules}"
    )
    named = set(re.findall(r"[a-z_]+\.py", section))
    missing = [m for m in modules if Path(m).name not in named]
    assert not missing, f"the walk runs modules the page does not name: {missing}"
