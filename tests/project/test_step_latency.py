"""benchmarks/step_latency.py reads the proxy's own encryption-step histogram, as `fle proxy` exports it.

The page comes from the proxy's real Metrics registry (pipeline/metrics.py), so a change of the series'
name or buckets there is caught here, not in a benchmark run.
"""

from __future__ import annotations

import math

import pytest

from benchmarks.step_latency import StepHistogram, parse
from edge_proxy.pipeline.metrics import Metrics


def page(*seconds: float, metrics: Metrics | None = None) -> tuple[Metrics, str]:
    metrics = metrics or Metrics()
    for value in seconds:
        metrics.encrypt_duration.observe(value)
    return metrics, metrics.exposition().decode()  # what /metrics serves


def test_mean_and_quantiles_of_what_the_proxy_observed() -> None:
    # 98 steps of 80 µs (the 50-100 µs bucket) and 2 of 3 ms (the 2.5-5 ms bucket)
    _, text = page(*([0.00008] * 98 + [0.003] * 2))
    step = parse(text)
    assert step.count == 100
    assert step.mean_ms == pytest.approx((98 * 0.08 + 2 * 3.0) / 100)
    # p50: rank 50 of the 98 in (0.05, 0.1] ms, interpolated as histogram_quantile does
    assert step.quantile_ms(0.5) == pytest.approx(0.05 + 0.05 * 50 / 98)
    # p99: rank 99, the first of the two slow ones, inside (2.5, 5] ms
    assert step.quantile_ms(0.99) == pytest.approx(2.5 + 2.5 * 1 / 2)


def test_a_run_is_the_difference_of_two_readings() -> None:
    metrics, text = page(0.5, 0.5, 0.5)  # earlier traffic (a warm-up, the headline): slow, and not counted
    before = parse(text)
    _, text = page(*([0.0002] * 10), metrics=metrics)
    run = parse(text).minus(before)
    assert run.count == 10
    assert run.mean_ms == pytest.approx(0.2)
    assert 0.1 < run.quantile_ms(0.99) <= 0.25  # only this run's steps, in (0.1, 0.25] ms


def test_nothing_observed_is_not_a_number_and_a_page_without_the_series_is_an_error() -> None:
    empty = StepHistogram(0, 0, ((0.001, 0), (math.inf, 0)))
    assert math.isnan(empty.mean_ms) and math.isnan(empty.quantile_ms(0.99))
    with pytest.raises(ValueError, match="fle_proxy_encrypt_duration_seconds"):
        parse("# nothing here\n")


def test_beyond_the_last_bucket_the_highest_finite_bound_is_reported() -> None:
    _, text = page(2.0)  # over the last finite bucket (1 s)
    assert parse(text).quantile_ms(0.99) == pytest.approx(1000.0)
