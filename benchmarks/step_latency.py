"""The proxy's own record of its encryption step, apart from the waiting around it.

`fle proxy` times every body it rewrites (`fle_proxy_encrypt_duration_seconds`, a histogram on its admin
listener). Read before and after a run, the difference is that run's steps alone: how long rewriting one
body took, whatever the queue in front of the proxy did to the end-to-end latency. The half-of-peak report
gives both, because at the same offered rate the encrypting path's extra CPU also makes requests wait
longer behind each other (docs/performance.md).
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

METRIC = "fle_proxy_encrypt_duration_seconds"


@dataclass(frozen=True, slots=True)
class StepHistogram:
    """A cumulative histogram of encryption steps: (upper bound in seconds, count at or below it)."""

    count: float
    sum_s: float
    buckets: tuple[tuple[float, float], ...]  # ascending, the last one +Inf

    def minus(self, before: StepHistogram) -> StepHistogram:
        """What was observed since `before` (the same series, read earlier)."""
        earlier = dict(before.buckets)
        return StepHistogram(
            self.count - before.count,
            self.sum_s - before.sum_s,
            tuple((le, n - earlier.get(le, 0.0)) for le, n in self.buckets),
        )

    @property
    def mean_ms(self) -> float:
        return self.sum_s / self.count * 1e3 if self.count else float("nan")

    def quantile_ms(self, q: float) -> float:
        """The q-quantile, interpolated linearly inside its bucket as Prometheus' histogram_quantile does
        (in the +Inf bucket: the highest finite bound)."""
        if not self.count:
            return float("nan")
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le, n in self.buckets:
            if n >= rank:
                if math.isinf(le):
                    return lower * 1e3
                inside = n - below
                return (lower + (le - lower) * ((rank - below) / inside if inside else 1.0)) * 1e3
            lower, below = le, n
        return lower * 1e3


def parse(text: str) -> StepHistogram:
    """The encryption-step histogram out of a /metrics page (Prometheus text format)."""
    for family in text_string_to_metric_families(text):
        if family.name != METRIC:
            continue
        count = sum_s = 0.0
        buckets: list[tuple[float, float]] = []
        for sample in family.samples:
            if sample.name == METRIC + "_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == METRIC + "_count":
                count = sample.value
            elif sample.name == METRIC + "_sum":
                sum_s = sample.value
        return StepHistogram(count, sum_s, tuple(sorted(buckets)))
    raise ValueError(f"no {METRIC} histogram on this metrics page")


def read(admin_url: str) -> StepHistogram:
    """The proxy's histogram now, from its admin listener."""
    with urllib.request.urlopen(admin_url + "/metrics", timeout=10) as response:
        return parse(response.read().decode())
