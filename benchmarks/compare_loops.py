"""The proxy on uvloop against the proxy on the stdlib asyncio loop, runs interleaved.

`python -m benchmarks.compare_loops [SECONDS] [REPEATS]` (defaults 3 and 5): starts one origin and two
one-worker `fle proxy` processes, `--loop asyncio` and `--loop uvloop`, then drives each in turn with wrk
(16 connections): the 3-field form with one protected field, and the same bytes under a content type no
profile applies to (the pass-through path). Runs are interleaved so both loops see the same machine; it
prints the median CPU µs per request and requests/s of each, the ratios uvloop/asyncio, and the load
average before and after (the machine may be shared: read the figures against it).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .cpu_per_request import print_medians, warm_then_interleaved
from .servers import FORM_TYPE, PASS_TYPE, running, write_config


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 3.0
    repeats = int(argv[1]) if len(argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="fle-loops-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        config = write_config(Path(tmp) / "config")
        loops = ("asyncio", "uvloop")
        proxies = {loop: servers.fle_proxy(origin, config, name=loop, loop=loop) for loop in loops}
        targets = [
            (f"{loop} {path}", proxy, content_type)
            for path, content_type in (("form", FORM_TYPE), ("pass", PASS_TYPE))
            for loop, proxy in proxies.items()
        ]
        load_before = os.getloadavg()
        cpu, rps = warm_then_interleaved(targets, seconds, repeats)
        load_after = os.getloadavg()
    cpu_median, rps_median = print_medians(cpu, rps)
    for path in ("form", "pass"):
        cpu_ratio = cpu_median[f"uvloop {path}"] / cpu_median[f"asyncio {path}"]
        rps_ratio = rps_median[f"uvloop {path}"] / rps_median[f"asyncio {path}"]
        print(f"{path}: uvloop/asyncio CPU per request = {cpu_ratio:.3f}, rps = {rps_ratio:.3f}")
    print("load average (1, 5, 15 min) before " + " ".join(f"{x:.2f}" for x in load_before)
          + ", after " + " ".join(f"{x:.2f}" for x in load_after))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
