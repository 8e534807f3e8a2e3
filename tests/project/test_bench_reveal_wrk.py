"""`python -m benchmarks.bench_reveal --processes 1,2 --load wrk` runs end to end: `fle reveal --workers 1`
and `--workers 2` per backend driven by wrk, each backend's values sent in turn (`post.lua` with a bodies
file and the caller's Proxy-Authorization header), every value arriving at the Node upstream in plaintext.
Shape and correctness only, never speed (speed is in docs/benchmarks.md)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.fixtures_process import run_module

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        shutil.which("wrk") is None or shutil.which("node") is None,
        reason="wrk and node are installed by scripts/install.sh --test",
    ),
]


def test_reveal_workers_under_wrk_and_the_node_upstream() -> None:
    args = ("--processes", "1,2", "--load", "wrk", "--items", "40", "--rounds", "1", "--seconds", "1")
    run = run_module("benchmarks.bench_reveal", *args, "--concurrency", "4", timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{") :])
    assert result["load"] == "wrk"
    # the harness itself refuses a body that reached the upstream unrevealed or values not sent in turn;
    # here: it saw every one of the 40 card numbers, and nothing else
    assert result["upstream_saw"]["other"] == 0 and result["upstream_saw"]["distinct"] == 40
    for backend in ("file", "pkcs11"):
        one, two = result[backend]["workers_1"], result[backend]["workers_2"]
        for entry in (one, two):
            assert entry["reveal_requests_per_s"] > 0 and entry["reveal_cpu_ms_per_request"] > 0
            # the load generator's and the upstream's CPU, each read from its own process
            assert entry["wrk_cpu_ms_per_request"] > 0 and entry["upstream_cpu_ms_per_request"] > 0
        assert two["speedup_over_1_per_round"] > 0 and "speedup_over_1_per_round" not in one
