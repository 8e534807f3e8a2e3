"""`python -m benchmarks.ahead` runs end to end: one proxy per --messages-ahead value, each driven by wrk,
and a line per value comparing it with pass-through. Shape only, never speed (speed is in docs/)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.fixtures_process import run_module

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (scripts/install.sh --test)"
    ),
]


def test_the_ahead_comparison_prints_each_value_against_pass_through() -> None:
    run = run_module("benchmarks.ahead", "0.5", "1", "8", "0", timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    for n in ("8", "0"):
        assert re.search(rf"^FLE, ahead {n} +cpu µs/request median +\d", run.stdout, re.M), run.stdout
        line = re.search(
            rf"^FLE, ahead {n} / pass-through: (\d\.\d+) requests/s, (\d\.\d+) CPU", run.stdout, re.M
        )
        assert line and 0 < float(line[1]) < 5 and 0 < float(line[2]) < 5, run.stdout
