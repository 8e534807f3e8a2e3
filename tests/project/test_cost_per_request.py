"""benchmarks/cost_per_request.py counts what one pass-through request runs, and the counts keep the hot path
as docs/performance.md describes it: a request's facts built in one call of ours, the origin client's
happy-path moves looked up rather than called (no call into state.py), each counted per request.

Counts, not times: the same on any machine, however loaded. The proxy runs in processes of its own.
"""

from __future__ import annotations

import re

import pytest

from tests.fixtures_process import run_module

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(300)]


def test_a_pass_through_request_builds_its_facts_in_one_call_and_never_calls_the_machine() -> None:
    done = run_module("benchmarks.cost_per_request", "--requests", "200", "--top", "500", timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    calls = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r"^\s*([\d.]+)\s+-?[\d.]+\s+(\S+:\d+ \S+)$", done.stdout, re.M)
    }
    assert re.search(r"calls per request: [\d.]+ of ours", done.stdout), done.stdout[-2000:]
    by_name = {name.split(":")[0] + " " + name.split(" ")[1]: n for name, n in calls.items()}
    assert by_name["fields/facts.py from_head"] == 1.0, by_name
    assert by_name["edge_proxy/pipeline/app.py handle"] >= 1.0  # the listing is of the request's calls
    assert not [name for name in by_name if name.startswith("edge_proxy/origin_client/state.py")], by_name
    assert not [name for name in by_name if name.startswith("fields/facts.py") and "from_head" not in name]
