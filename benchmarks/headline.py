"""Issue 17's side-by-side scenarios: the headline table, the latency added at half of peak, two workers.

- Headline: the reference proxy, the edge proxy's pass-through and encrypting paths (and both again on
  uvloop when it is installed), every one `--workers 1`, in interleaved rounds at one saturating
  connection count.
- Half of peak: the encrypting and pass-through paths paced at half of the encrypting path's headline
  rate; the p99 difference is taken round by round.
- Workers: `--workers 1` against `--workers 2` on the encrypting path, with wrk's and the origin's CPU
  recorded, because on a 2-core machine the load generator competes with the second worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import step_latency
from .rounds import Contender, Sample, Stat, interleaved, warm_up
from .servers import Server


@dataclass(frozen=True, slots=True)
class Comparison:
    """Samples of several contenders taken in the same interleaved rounds."""

    connections: int
    seconds: float
    rounds: int
    labels: dict[str, str]  # name -> label, in the order they ran
    samples: dict[str, list[Sample]]


def compare(
    contenders: list[Contender], origin: Server, connections: int, seconds: float, rounds: int
) -> Comparison:
    warm_up(contenders)
    samples = interleaved(contenders, origin, connections=connections, seconds=seconds, rounds=rounds)
    return Comparison(connections, seconds, rounds, {c.name: c.label for c in contenders}, samples)


@dataclass(frozen=True, slots=True)
class HalfPeak:
    """Encrypting and pass-through paths offered the same paced load: half the encrypting path's peak."""

    target_rps: float
    connections: int
    delay_ms: int
    samples: dict[str, list[Sample]]
    # the FLE proxy's own timing of its encryption step over these runs (None: it had no admin listener)
    encrypt_step: step_latency.StepHistogram | None = None

    def added_p99(self, with_name: str = "fle", without_name: str = "passthrough") -> Stat:
        """p99 of `with_name` minus p99 of `without_name`, round by round."""
        pairs = zip(self.samples[with_name], self.samples[without_name], strict=True)
        return Stat.of([a.p99_ms - b.p99_ms for a, b in pairs])


def pacing(target_rps: float) -> tuple[int, int]:
    """(connections, mean delay ms) that offer about `target_rps`: each connection waits a random time
    (exponential, mean about 50 ms; post.lua) before every request, long against the service time (a few
    ms), so every contender gets about the same load (wrk has no fixed-rate mode; its delay() hook paces
    each connection)."""
    connections = max(2, math.ceil(target_rps * 0.05))
    return connections, max(1, round(connections * 1000 / target_rps))


def half_peak(
    contenders: list[Contender],
    origin: Server,
    target_rps: float,
    seconds: float,
    rounds: int,
    admin_url: str | None = None,
) -> HalfPeak:
    """The paced runs; with `admin_url` (the FLE proxy's admin listener) also its own timing of the
    encryption step over them: only the encrypting path rewrites bodies, so the histogram's difference
    across the runs is the FLE rounds' steps."""
    connections, delay_ms = pacing(target_rps)
    before = step_latency.read(admin_url) if admin_url else None
    samples = interleaved(
        contenders, origin, connections=connections, seconds=seconds, rounds=rounds, delay_ms=delay_ms
    )
    step = step_latency.read(admin_url).minus(before) if admin_url and before else None
    return HalfPeak(target_rps, connections, delay_ms, samples, step)
