"""Proxy CPU per request, FLE form vs pass-through vs the reference proxy, runs interleaved.

`python -m benchmarks.cpu_per_request [SECONDS] [REPEATS]` (defaults 3 and 3): starts the origin, a
one-worker edge proxy and the reference proxy on loopback, drives each with wrk (16 connections) in turn,
and prints the median CPU µs per request of each (`/proc` CPU time over wrk's request count) and its rps.
A quick side-by-side check of a change to the request path; `python -m benchmarks` is the full report.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from . import wrk
from .servers import FORM, FORM_TYPE, PASS_TYPE, Server, cpu_seconds, running, write_config

Target = tuple[str, Server, str]  # name, server, the Content-Type of the sample form sent to it


def interleaved(
    targets: list[Target], seconds: float, repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """CPU µs per request and requests/s of each target, `repeats` rounds of wrk runs taken in turn, so
    that every target sees the same (noisy) machine."""
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    rps: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    for _ in range(repeats):
        for name, server, content_type in targets:
            before = cpu_seconds(server.pids())
            result = wrk.run(
                server.url + "/submit", body=FORM, content_type=content_type, connections=16, seconds=seconds
            )
            if not result.requests:  # a round without a figure would pair the others' rounds wrongly
                raise wrk.WrkError(f"{name}: wrk got no answer in {seconds} s")
            cpu[name].append((cpu_seconds(server.pids()) - before) / result.requests * 1e6)
            rps[name].append(result.rps)
    return cpu, rps


def warm_then_interleaved(
    targets: list[Target], seconds: float, repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """`interleaved` after one short wrk run per target (connections opened, caches and pools warm)."""
    for _, server, content_type in targets:
        wrk.run(server.url + "/submit", body=FORM, content_type=content_type, connections=8, seconds=1)
    return interleaved(targets, seconds, repeats)


def print_medians(
    cpu: dict[str, list[float]], rps: dict[str, list[float]] | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """One line per target: median CPU µs per request, every round's figure, and the median rps if given.
    Returns the medians printed: CPU per request, and requests/s (empty without `rps`)."""
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    rps_median = {name: statistics.median(values) for name, values in (rps or {}).items()}
    width = max(len(name) for name in cpu)
    for name, values in cpu.items():
        runs = ", ".join(f"{x:.0f}" for x in values)
        line = f"{name:{width}s} cpu µs/request median {cpu_median[name]:7.1f} (runs {runs})"
        print(line + (f"  rps median {rps_median[name]:.0f}" if rps else ""))
    return cpu_median, rps_median


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 3.0
    repeats = int(argv[1]) if len(argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="fle-cpu-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        fle = servers.fle_proxy(origin, write_config(Path(tmp) / "config"))
        reference = servers.reference(origin)
        targets = [("fle", fle, FORM_TYPE), ("pass", fle, PASS_TYPE), ("ref", reference, PASS_TYPE)]
        cpu, rps = warm_then_interleaved(targets, seconds, repeats)
        print_medians(cpu, rps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
