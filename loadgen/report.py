"""What a load run counted (Tally), what it reports (Summary), and the progress line shown while it runs."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful (2xx/3xx) responses
    statuses: Counter[str] = field(default_factory=Counter)  # "200", "502", or an error class name
    issued: int = 0

    @property
    def errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if not (k.isdigit() and int(k) < 400))


@dataclass(frozen=True, slots=True)
class Summary:
    url: str
    seconds: float
    requests: int
    ok: int
    errors: int
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    statuses: dict[str, int]


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


def summarise(url: str, tally: Tally, seconds: float) -> Summary:
    values = sorted(tally.latencies)
    total = sum(tally.statuses.values())

    def ms(q: float) -> float | None:
        v = percentile(values, q)
        return None if v is None else round(v * 1000, 3)

    return Summary(
        url=url,
        seconds=round(seconds, 3),
        requests=total,
        ok=len(values),
        errors=tally.errors,
        rps=round(total / seconds, 1) if seconds else 0.0,
        p50_ms=ms(50),
        p90_ms=ms(90),
        p99_ms=ms(99),
        max_ms=None if not values else round(values[-1] * 1000, 3),
        statuses=dict(sorted(tally.statuses.items())),
    )


def show_progress(tally: Tally, elapsed: float, duration: float, requests: int | None, final: bool) -> None:
    """One progress line on stderr (redrawn in place on a terminal)."""
    done = sum(tally.statuses.values())
    recent = sorted(tally.latencies[-2000:])
    p50, p99 = percentile(recent, 50), percentile(recent, 99)
    share = min(1.0, elapsed / duration)
    if requests:
        share = max(share, done / requests)
    bar = "#" * int(share * 20)
    latency = (
        f"p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms" if p50 is not None and p99 is not None else ""
    )
    line = (
        f"[{bar:<20}] {elapsed:5.1f}s  {done:,} requests  {done / elapsed if elapsed else 0:,.0f} rps  "
        f"{latency}  errors {tally.errors}"
    )
    if sys.stderr.isatty():
        print("\r" + line, end="\n" if final else "", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)
