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
            if result.requests:
                cpu[name].append((cpu_seconds(server.pids()) - before) / result.requests * 1e6)
            rps[name].append(result.rps)
    return cpu, rps


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 3.0
    repeats = int(argv[1]) if len(argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="fle-cpu-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        fle = servers.fle_proxy(origin, write_config(Path(tmp) / "config"))
        reference = servers.reference(origin)
        targets = [("fle", fle, FORM_TYPE), ("pass", fle, PASS_TYPE), ("ref", reference, PASS_TYPE)]
        for _, server, content_type in targets:  # warm up
            wrk.run(server.url + "/submit", body=FORM, content_type=content_type, connections=8, seconds=1)
        cpu, rps = interleaved(targets, seconds, repeats)
        for name in cpu:
            runs = ", ".join(f"{x:.0f}" for x in cpu[name])
            print(
                f"{name:5s} cpu µs/request median {statistics.median(cpu[name]):7.1f} (runs {runs})"
                f"  rps median {statistics.median(rps[name]):.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
