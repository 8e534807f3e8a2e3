"""The verdict table of `python -m benchmarks` is computed from the samples, round by round, and written into
docs/performance.md only between its markers.

The samples here are constructed (no servers run): what is checked is the arithmetic and the wording of
the verdicts, which the smoke test (test_benchmarks_smoke.py) cannot pin down with real, noisy figures.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from benchmarks import report, report_sections, targets
from benchmarks.headline import Comparison, HalfPeak
from benchmarks.results import Results
from benchmarks.rounds import Sample
from benchmarks.step_latency import StepHistogram


def sample(rps: float, proxy_us: float, p99_ms: float = 5.0, errors: int = 0) -> Sample:
    requests = int(rps * 2)
    return Sample(
        requests=requests,
        seconds=2.0,
        p50_ms=1.0,
        p99_ms=p99_ms,
        errors=errors,
        proxy_cpu_s=proxy_us * requests / 1e6,
        wrk_cpu_s=0.1,
        origin_cpu_s=0.2,
        busy_cpu_s=3.0,
    )


def results(fle_rps: list[float], fle_us: list[float], errors: int = 0) -> Results:
    r = Results(command="python -m benchmarks", started="now", seconds_per_point=2, repeats=3, note="")
    labels = {"reference": "reference", "passthrough": "pass-through", "fle": "FLE"}
    r.headline = Comparison(
        connections=32,
        seconds=2,
        rounds=3,
        labels=labels,
        samples={
            # the reference's rate moves from round to round: ratios must pair samples of the same round
            "reference": [sample(1000, 300), sample(2000, 300), sample(1500, 300)],
            "passthrough": [sample(960, 330), sample(1920, 330), sample(1440, 330)],
            "fle": [sample(x, us, errors=errors) for x, us in zip(fle_rps, fle_us, strict=True)],
        },
    )
    r.half_peak = HalfPeak(
        target_rps=500,
        connections=25,
        delay_ms=50,
        samples={
            "passthrough": [sample(500, 300, p99_ms=4.0), sample(500, 300, p99_ms=9.0)],
            "fle": [sample(500, 400, p99_ms=4.5), sample(500, 400, p99_ms=9.8)],
        },
    )
    return r


def by_target(r: Results) -> dict[str, targets.Verdict]:
    return {v.target: v for v in targets.verdicts(r)}


def test_ratios_are_taken_round_by_round_and_judged_against_the_goals() -> None:
    # FLE at 0.7 of the reference in every round (rps), and 300/450 = 0.67 on the CPU basis
    v = by_target(results([700, 1400, 1050], [450, 450, 450]))
    fle = v["FLE (1 of 3 fields encrypted) vs reference proxy, peak rps (32 connections)"]
    assert fle.measured.startswith("0.70 (rounds 0.70-0.70)") and fle.verdict == "met"
    assert v["same, CPU basis: reference CPU / FLE CPU per request"].measured.startswith("0.67")
    assert v["stretch: FLE vs reference, CPU basis"].verdict == "**missed**"
    passthrough = v["own pass-through vs reference proxy, peak rps"]
    assert passthrough.measured.startswith("0.96") and passthrough.verdict == "met"
    assert v["same, CPU basis: reference CPU / pass-through CPU"].verdict == "**missed**"  # 300/330 = 0.91
    added = next(x for x in v.values() if x.target.startswith("p99 added"))
    assert added.measured.startswith("0.65 ms") and added.verdict == "met"  # median of 0.5 and 0.8


def test_the_encryption_steps_own_p99_is_stated_beside_the_verdict_not_judged() -> None:
    r = results([700, 1400, 1050], [450, 450, 450])
    assert r.half_peak is not None
    # 100 steps, all in the proxy's (0.1, 0.25] ms bucket: p99 interpolated at 0.1 + 0.15 * 99/100
    step = StepHistogram(100, 0.015, ((0.0001, 0), (0.00025, 100), (math.inf, 100)))
    r.half_peak = dataclasses.replace(r.half_peak, encrypt_step=step)
    added = next(x for x in targets.verdicts(r) if x.target.startswith("p99 added"))
    assert added.measured == "0.65 ms (rounds 0.50 to 0.80); the encryption step's own p99 0.25 ms"
    assert added.verdict == "met"  # judged on the end-to-end figure alone
    section = "\n".join(report_sections.half_peak_section(r))
    assert "over the paced FLE runs, 100 bodies): mean 0.150 ms, p50 0.175 ms, p99 0.249 ms" in section


def test_a_ratio_under_the_goal_or_any_error_is_a_miss() -> None:
    slow = by_target(results([600, 1300, 900], [450, 450, 450]))
    assert slow["FLE (1 of 3 fields encrypted) vs reference proxy, peak rps (32 connections)"].verdict == (
        "**missed**"
    )
    failing = by_target(results([700, 1400, 1050], [450, 450, 450], errors=1))
    row = failing["FLE (1 of 3 fields encrypted) vs reference proxy, peak rps (32 connections)"]
    assert row.verdict == "**missed**" and "3 errors" in row.measured


def test_what_was_not_run_is_stated_not_judged() -> None:
    v = by_target(results([700, 1400, 1050], [450, 450, 450]))
    uvloop = next(x for x in v.values() if x.target.startswith("uvloop"))
    decryptor = next(x for x in v.values() if x.target.startswith("decryptor"))
    assert uvloop.verdict == decryptor.verdict == "not measured"


def test_performance_page_changes_only_between_its_markers(tmp_path: Path) -> None:
    r = results([700, 1400, 1050], [450, 450, 450])
    page = tmp_path / "performance.md"
    before = f"# Performance\n\nintro\n\n{report.BEGIN_MARK}\nold table\n{report.END_MARK}\n\nafter\n"
    page.write_text(before)
    assert report.update_performance(page, r, tmp_path / "benchmarks-proxy.md")
    text = page.read_text()
    assert text.startswith("# Performance\n\nintro\n\n" + report.BEGIN_MARK)
    assert text.endswith(report.END_MARK + "\n\nafter\n")
    assert "old table" not in text and "| 17 | FLE (1 of 3 fields encrypted)" in text
    assert "[benchmarks-proxy.md](benchmarks-proxy.md)" in text

    unmarked = tmp_path / "other.md"
    unmarked.write_text("no markers\n")
    assert not report.update_performance(unmarked, r, tmp_path / "benchmarks-proxy.md")
    assert unmarked.read_text() == "no markers\n"
