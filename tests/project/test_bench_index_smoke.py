"""benchmarks.bench_index works end to end at a tiny size: every part runs and its report is well formed.

It runs the blind-index benchmark (issue 23) with a few hundred records, a throwaway SoftHSM2 token, and
(when wrk is installed) two `fle proxy` processes for a second each, and checks the JSON and the markdown
for shape and for what must hold at any size: every lookup found its records and `match` kept exactly
them. It never asserts speed: the figures are read in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_index import BEGIN, DOCS, END, write_docs

ROOT = Path(__file__).parents[2]

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(300)]


def test_a_tiny_run_measures_every_part_and_finds_every_record(tmp_path: Path) -> None:
    out = tmp_path / "bench-index.json"
    wrk = shutil.which("wrk") is not None
    command = [sys.executable, "-m", "benchmarks.bench_index", "--rounds", "1", "--calls", "20",
               "--records", "240", "--lookups", "30", "--wrk-seconds", "1", "--out", str(out),
               *(() if wrk else ("--no-wrk",))]  # fmt: skip
    committed = DOCS.stat().st_mtime_ns
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert DOCS.stat().st_mtime_ns == committed  # without --write-docs the docs are left alone

    result = json.loads(out.read_text())
    assert json.loads(done.stdout) == result
    beacon = result["beacon"]
    assert set(beacon["wall_us"]) == {"beacon_file", "beacon_softhsm", "encrypt"}
    assert all(v > 0 for v in (*beacon["wall_us"].values(), *beacon["cpu_us"].values()))
    rewrite = result["rewrite_in_process"]
    assert set(rewrite["requests_per_cpu_s"]) == {"plain", "file", "softhsm"}
    assert rewrite["file_over_plain"] > 0 and rewrite["softhsm_over_plain"] > 0
    if wrk:
        proxies = result["proxy_wrk"]
        # the indexed proxy really wrote a sidecar: the origin received a longer body
        assert int(proxies["origin_received_bytes"]["indexed"]) > int(
            proxies["origin_received_bytes"]["plain"]
        )
        assert all(proxies["cpu_us_per_request"][name] > 0 for name in ("plain", "indexed"))
    lookups = result["lookups"]
    assert lookups["records"] == 240 and lookups["lookups"] == 30
    assert lookups["recall"] == 1.0 and lookups["precision_after_match"] == 1.0
    assert lookups["mean_candidates"] >= 2  # each value is stored twice, and both records are found
    assert 0 < lookups["find_ms"]["p50"] <= lookups["find_ms"]["p99"]

    tables = out.with_suffix(".md").read_text()
    assert "python -m benchmarks.bench_index --rounds 1" in tables
    assert "| beacon, key in SoftHSM2 |" in tables and "ratio (CPU)" in tables and "| 100% | 100% |" in tables
    assert ("fle proxy" in tables) == wrk


def test_write_docs_replaces_only_what_lies_between_the_markers(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# B\n\nprose before\n\n{BEGIN}\nold tables\n{END}\n\nprose after\n")
    write_docs("new tables\n", docs)
    assert docs.read_text() == f"# B\n\nprose before\n\n{BEGIN}\nnew tables\n{END}\n\nprose after\n"
    docs.write_text("# B\n\nno markers\n")
    with pytest.raises(SystemExit, match="needs one"):
        write_docs("new tables\n", docs)
    assert DOCS.read_text().count(BEGIN) == 1  # the committed docs carry the markers
