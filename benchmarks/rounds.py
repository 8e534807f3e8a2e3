"""Interleaved rounds: every contender in turn, once per round, with the CPU each process spent.

Each wrk run records what the proxy under test (all its processes), wrk itself and the origin spent in CPU
time (from /proc), and how busy the machine's cores were meanwhile (/proc/stat), so a report can say what
one request costs the proxy, what the load generator took of the cores, and how much of the machine other
work used while the figures were taken. Ratios are taken round by round (contender and baseline measured
seconds apart), then the median over rounds, so slow drifts in machine load cancel out.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import wrk
from .servers import FORM, Server, cpu_seconds


@dataclass(frozen=True, slots=True)
class Contender:
    """One column of a comparison: a proxy process and the Content-Type that picks its path."""

    name: str  # short key (JSON, ratios)
    label: str  # what the report calls it
    server: Server
    content_type: str


@dataclass(frozen=True, slots=True)
class Sample:
    """One wrk run against one contender."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    proxy_cpu_s: float  # every process of the proxy (the parent and its workers)
    wrk_cpu_s: float
    origin_cpu_s: float
    busy_cpu_s: float  # all cores, every process on the machine (/proc/stat), over the same run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def per_request_us(self, cpu_s: float) -> float:
        return cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def proxy_us(self) -> float:
        return self.per_request_us(self.proxy_cpu_s)

    @property
    def wrk_us(self) -> float:
        return self.per_request_us(self.wrk_cpu_s)

    @property
    def origin_us(self) -> float:
        return self.per_request_us(self.origin_cpu_s)

    def share(self, cpu_s: float) -> float:
        """`cpu_s` as a share of all the machine's cores over the run (1.0: every core, all the time)."""
        return cpu_s / (self.seconds * cores()) if self.seconds else float("nan")

    @property
    def other_cpu_s(self) -> float:
        """CPU the machine spent on anything but proxy, wrk and origin: other jobs (a quiet run: near 0)."""
        return max(0.0, self.busy_cpu_s - self.proxy_cpu_s - self.wrk_cpu_s - self.origin_cpu_s)


@dataclass(frozen=True, slots=True)
class Stat:
    """Median and range of one figure over the rounds."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        clean = [v for v in values if v == v]  # drop NaN (a run with no requests)
        if not clean:
            return cls(float("nan"), float("nan"), float("nan"))
        return cls(statistics.median(clean), min(clean), max(clean))

    @property
    def spread(self) -> float:
        """Range over the median (0.1: the rounds differed by 10 % of the median)."""
        return (self.high - self.low) / self.median if self.median else float("nan")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat, first line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def measure(
    contender: Contender, origin: Server, connections: int, seconds: float, delay_ms: int = 0
) -> Sample:
    """One wrk run (one thread) POSTing the sample form to `contender`, with the CPU every side spent."""
    pids = contender.server.pids()
    proxy0, origin0, busy0 = cpu_seconds(pids), cpu_seconds([origin.pid]), busy_seconds()
    result = wrk.run(
        contender.server.url + "/submit",
        body=FORM,
        content_type=contender.content_type,
        connections=connections,
        seconds=seconds,
        delay_ms=delay_ms,
    )
    busy1, proxy1, origin1 = busy_seconds(), cpu_seconds(pids), cpu_seconds([origin.pid])
    return Sample(
        requests=result.requests,
        seconds=result.seconds,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        proxy_cpu_s=proxy1 - proxy0,
        wrk_cpu_s=result.cpu_s,
        origin_cpu_s=origin1 - origin0,
        busy_cpu_s=busy1 - busy0,
    )


def interleaved(
    contenders: list[Contender],
    origin: Server,
    *,
    connections: int,
    seconds: float,
    rounds: int,
    delay_ms: int = 0,
) -> dict[str, list[Sample]]:
    """`rounds` rounds, each running every contender once; each round starts one contender further on
    (a rotation), so no contender always runs first after a pause or right after the heaviest one."""
    samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
    for i in range(rounds):
        shift = i % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            samples[contender.name].append(measure(contender, origin, connections, seconds, delay_ms))
    return samples


def warm_up(contenders: list[Contender], seconds: float = 1.0) -> None:
    """A short run each: pools opened, caches filled, code paths imported before anything is recorded."""
    for contender in contenders:
        wrk.run(
            contender.server.url + "/submit",
            body=FORM,
            content_type=contender.content_type,
            connections=8,
            seconds=seconds,
        )


def ratios_per_round(a: list[Sample], b: list[Sample], attr: str, invert: bool = False) -> list[float]:
    """`a.attr / b.attr` round by round (or `b / a` with `invert`, for costs); NaN for a zero divisor."""
    values = []
    for x, y in zip(a, b, strict=True):
        num, den = (getattr(y, attr), getattr(x, attr)) if invert else (getattr(x, attr), getattr(y, attr))
        values.append(num / den if den else float("nan"))
    return values


def ratio_per_round(a: list[Sample], b: list[Sample], attr: str, invert: bool = False) -> Stat:
    """`ratios_per_round`, then their median and range."""
    return Stat.of(ratios_per_round(a, b, attr, invert))


def stat(samples: Sequence[object], attr: str) -> Stat:
    """Median and range of one attribute over rounds' samples (a Sample, a LoneSample, ...)."""
    return Stat.of([float(getattr(s, attr)) for s in samples])


def share(samples: list[Sample], cpu_attr: str) -> Stat:
    """Median and range of the share of all cores one process took (`cpu_attr`: its CPU seconds)."""
    return Stat.of([s.share(getattr(s, cpu_attr)) for s in samples])
