"""docs/architecture.md's walk of one form POST states how many of our modules it runs: measured by
benchmarks/walk.py, it must be the number the page gives, and every module measured must be on the page."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.walk import walk

PAGE = Path(__file__).parents[2] / "docs" / "architecture.md"


async def test_the_page_states_the_walk_as_measured() -> None:
    modules = await walk()
    section = PAGE.read_text().split("## One form POST, from the socket to the origin")[1].split("\n## ")[0]
    stated = re.search(r"sees code run in \*\*(\d+) of our modules\*\*", section)
    assert stated is not None and int(stated.group(1)) == len(modules), "run: python -m benchmarks.walk"
    named = set(re.findall(r"[a-z_]+\.py", section))
    missing = [m for m in modules if Path(m).name not in named]
    assert not missing, f"the walk runs modules the page does not name: {missing}"
