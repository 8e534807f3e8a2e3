"""The verdict table of `python -m benchmarks` (issues 27, 17 and 7) is computed from the samples, round by
round, and written into docs/performance.md only between its markers.

The samples here are constructed (no servers run): what is checked is the arithmetic and the wording of
the verdicts, which the smoke test (test_benchmarks_smoke.py) cannot pin down with real, noisy figures.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from benchmarks import lone, report, report_sections, targets
from benchmarks.headline import Comparison, HalfPeak
from benchmarks.lone import LoneRequest, LoneSample
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
    # issue 27 restates issue 17's stretch: FLE / reference >= 0.9, in rps and on the CPU basis
    assert v["FLE / reference proxy, peak requests/s (headline)"].verdict == "**missed**"
    assert v[
        "FLE / reference proxy, CPU basis: reference proxy CPU / FLE CPU per request"
    ].measured.startswith("0.67")
    passthrough = v["own pass-through vs reference proxy, peak rps"]
    assert passthrough.measured.startswith("0.96") and passthrough.verdict == "met"
    assert v["same, CPU basis: reference CPU / pass-through CPU"].verdict == "**missed**"  # 300/330 = 0.91
    added = next(x for x in v.values() if x.target.startswith("p99 added"))
    # median of 0.5 and 0.8; issue 27 restates this target as reported, not targeted
    assert added.measured.startswith("0.65 ms") and added.verdict == "reported"


def test_the_encryption_steps_own_p99_is_judged_in_a_row_of_its_own() -> None:
    r = results([700, 1400, 1050], [450, 450, 450])
    assert r.half_peak is not None
    # 100 steps, all in the proxy's (0.1, 0.25] ms bucket: p99 interpolated at 0.1 + 0.15 * 99/100
    step = StepHistogram(100, 0.015, ((0.0001, 0), (0.00025, 100), (math.inf, 100)))
    r.half_peak = dataclasses.replace(r.half_peak, encrypt_step=step)
    v = by_target(r)
    row = v["the encryption step's own p99 (`fle_proxy_encrypt_duration_seconds`) at half of peak"]
    assert row.issue == 27 and row.goal == "<= 0.5 ms" and row.verdict == "met"
    assert row.measured == "0.249 ms (p50 0.175, mean 0.150 ms; 100 bodies)"
    # one step in a hundred past 0.5 ms (the 0.5-1 ms bucket) puts the p99 at that bucket's top: missed
    slow = StepHistogram(100, 0.016, ((0.00025, 98), (0.0005, 98), (0.001, 100), (math.inf, 100)))
    r.half_peak = dataclasses.replace(r.half_peak, encrypt_step=slow)
    row = by_target(r)["the encryption step's own p99 (`fle_proxy_encrypt_duration_seconds`) at half of peak"]
    assert row.measured.startswith("0.750 ms") and row.verdict == "**missed**"
    r.half_peak = dataclasses.replace(r.half_peak, encrypt_step=step)
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
    not_run = [
        x for x in v.values() if x.target.startswith(("uvloop", "decryptor", "latency added", "the enc"))
    ]
    assert len(not_run) == 6  # uvloop x2, decryptor, lone p50 and p99, the step (no histogram here)
    assert all(x.verdict == "not measured" for x in not_run)
    # with nothing measured at all, every one of issue 27's targets is still listed, as not measured
    empty = Results(command="python -m benchmarks", started="now", seconds_per_point=1, repeats=1, note="")
    rows = [x for x in targets.verdicts(empty) if x.issue == 27]
    assert len(rows) == 10 and {x.verdict for x in rows} == {"not measured"}


def with_uvloop(r: Results, fle_gain: list[float], pass_gain: list[float], cpu_saving: float) -> Results:
    """The headline of `r` plus uvloop contenders: rps times the gains given per round, CPU per request
    divided by `cpu_saving` on the encrypting path and by 1.25 on pass-through."""
    assert r.headline is not None
    h = r.headline.samples

    def faster(samples: list[Sample], gains: list[float], saving: float) -> list[Sample]:
        return [sample(s.rps * g, s.proxy_us / saving) for s, g in zip(samples, gains, strict=True)]

    samples = {
        **h,
        "passthrough_uvloop": faster(h["passthrough"], pass_gain, 1.25),
        "fle_uvloop": faster(h["fle"], fle_gain, cpu_saving),
    }
    r.headline = dataclasses.replace(r.headline, samples=samples)
    return r


def test_issue_27_ratios_against_the_proxys_own_pass_through() -> None:
    # pass-through runs at 0.96 of the reference each round: FLE at 0.70 of the reference is 0.729 of it
    v = by_target(results([700, 1400, 1050], [450, 450, 450]))
    rps = v["FLE / own pass-through, peak requests/s (headline)"]
    assert rps.issue == 27 and rps.goal == ">= 0.7"
    assert rps.measured == "0.73 (rounds 0.73-0.73)" and rps.verdict == "met"
    cpu = v["FLE / own pass-through, CPU basis: own pass-through CPU / FLE CPU per request"]
    assert cpu.measured.startswith("0.73") and cpu.verdict == "met"  # 330 / 450
    # 330 / 500 = 0.66 in every round, and one round under 0.70 in rps (650 / 960 = 0.677) of three
    v = by_target(results([650, 1400, 1050], [500, 500, 500]))
    assert v["FLE / own pass-through, CPU basis: own pass-through CPU / FLE CPU per request"].verdict == (
        "**missed**"
    )
    rps = v["FLE / own pass-through, peak requests/s (headline)"]
    assert rps.measured == "0.73 (rounds 0.68-0.73)" and rps.verdict == "met"  # the median is judged


def test_uvloops_gain_is_compared_path_against_path_round_by_round() -> None:
    base = results([700, 1400, 1050], [450, 450, 450])
    # pass-through x1.2 every round, encrypting x1.0, x1.3, x1.25: relative 0.83, 1.08, 1.04 -> median 1.04
    v = by_target(with_uvloop(base, [1.0, 1.3, 1.25], [1.2, 1.2, 1.2], cpu_saving=1.0))
    rps = v["uvloop's gain on the encrypting path >= its gain on pass-through, requests/s"]
    assert rps.measured == "1.04 (rounds 0.83-1.08): encrypting x1.25, pass-through x1.20"
    assert rps.verdict == "met"
    # CPU per request: pass-through saves 1.25x, the encrypting path nothing: 1 / 1.25 = 0.80
    cpu = v["uvloop's gain on the encrypting path >= its gain on pass-through, CPU per request"]
    assert cpu.measured.startswith("0.80 (rounds 0.80-0.80): encrypting x1.00, pass-through x1.25")
    assert cpu.verdict == "**missed**"
    base = results([700, 1400, 1050], [450, 450, 450])
    v = by_target(with_uvloop(base, [1.0, 1.1, 1.0], [1.2, 1.2, 1.2], cpu_saving=1.3))
    assert (
        v["uvloop's gain on the encrypting path >= its gain on pass-through, requests/s"].verdict
        == "**missed**"
    )
    assert (
        v["uvloop's gain on the encrypting path >= its gain on pass-through, CPU per request"].verdict
        == "met"
    )


def lone_sample(p50_ms: float, p99_ms: float, errors: int = 0) -> LoneSample:
    return LoneSample(400, errors, p50_ms, p99_ms, p50_ms * 1.1, p99_ms * 2, 0.12)


def test_lone_request_added_latency_is_the_median_of_per_round_differences() -> None:
    r = results([700, 1400, 1050], [450, 450, 450])
    # per round FLE - pass-through: p50 0.20, 0.60, 0.15 (median 0.20; the medians' difference would be
    # 1.00 - 0.85 = 0.15), p99 1.2, 0.8, 0.9 (median 0.9)
    r.lone = LoneRequest(
        requests=400,
        gap_ms=5.0,
        rounds=3,
        samples={
            "fle": [lone_sample(0.9, 2.2), lone_sample(1.6, 2.0), lone_sample(1.0, 2.4)],
            "passthrough": [lone_sample(0.7, 1.0), lone_sample(1.0, 1.2), lone_sample(0.85, 1.5)],
        },
    )
    v = by_target(r)
    p50 = v["latency added by encryption to a lone request (one connection, paced), p50"]
    assert p50.issue == 27 and p50.goal == "<= 0.3 ms"
    assert p50.measured == "0.200 ms (rounds 0.150 to 0.600)" and p50.verdict == "met"
    p99 = v["latency added by encryption to a lone request (one connection, paced), p99"]
    assert p99.measured == "0.900 ms (rounds 0.800 to 1.200)" and p99.verdict == "met"
    section = "\n".join(report_sections.lone_section(r))
    assert "## Latency added by encryption to a request arriving alone (issue 27)" in section
    assert "| fle | 1.000 (0.900-1.600) | 2.200 (2.000-2.400) |" in section
    assert "Added by encryption: p50 0.200 ms (rounds 0.150 to 0.600), p99 0.900 ms" in section
    # an error on either path is a miss, whatever the figures
    r.lone = dataclasses.replace(r.lone, samples={**r.lone.samples, "passthrough": [
        lone_sample(0.7, 1.0), lone_sample(1.0, 1.2, errors=1), lone_sample(0.85, 1.5)
    ]})  # fmt: skip
    p50 = by_target(r)["latency added by encryption to a lone request (one connection, paced), p50"]
    assert p50.verdict == "**missed**" and p50.measured.endswith("; 1 errors")


def test_lone_quantiles_are_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert lone.quantile(values, 0.5) == 50.0 and lone.quantile(values, 0.99) == 99.0
    assert lone.quantile([3.0], 0.99) == 3.0 and math.isnan(lone.quantile([], 0.5))
    s = lone.summarise([0.4, 0.1, 0.3, 0.2], errors=0, proxy_cpu_s=0.0004)
    assert (s.p50_ms, s.p99_ms, s.max_ms) == (0.2, 0.4, 0.4)
    assert s.mean_ms == pytest.approx(0.25) and s.proxy_us == pytest.approx(100.0)


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
    assert "| 27 | FLE / own pass-through, peak requests/s (headline) | >= 0.7 | 0.73" in text
    assert "[benchmarks-proxy.md](benchmarks-proxy.md)" in text

    unmarked = tmp_path / "other.md"
    unmarked.write_text("no markers\n")
    assert not report.update_performance(unmarked, r, tmp_path / "benchmarks-proxy.md")
    assert unmarked.read_text() == "no markers\n"
