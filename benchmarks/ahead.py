"""What opening messages ahead saves: `fle proxy --messages-ahead N` for several N, one run, interleaved.

    python -m benchmarks.ahead [SECONDS] [REPEATS] [N ...]     # defaults: 3, 7, then 32 and 0

One origin and one one-worker `fle proxy` per N (stdlib loop), each driven in turn by wrk (16 connections)
with the 3-field form (`phone` encrypted); the last proxy also takes the same bytes as `text/plain`, the
pass-through path. It prints each one's proxy CPU µs per request (median over the rounds) and, per N,
FLE against pass-through as issue 27 takes it: requests/s, and pass-through CPU / FLE CPU per request,
each taken round by round, median over the rounds (wrk here runs 16 connections, the headline 32). `0` is the
encoder as it was before messages were opened ahead: each value opens its own when it comes.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from .cpu_per_request import print_medians, warm_then_interleaved
from .servers import FORM_TYPE, PASS_TYPE, running, write_config


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 3.0
    repeats = int(argv[1]) if len(argv) > 1 else 7
    counts = argv[2:] or ["32", "0"]
    with tempfile.TemporaryDirectory(prefix="fle-ahead-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        config = write_config(Path(tmp) / "config")
        targets = []
        for n in counts:
            proxy = servers.fle_proxy(origin, config, name=f"ahead{n}", extra=("--messages-ahead", n))
            targets.append((f"FLE, ahead {n}", proxy, FORM_TYPE))
        targets.append(("pass-through", proxy, PASS_TYPE))
        cpu, rps = warm_then_interleaved(targets, seconds, repeats)
        print_medians(cpu)
        for name, values in cpu.items():
            if name != "pass-through":
                by_cpu = [p / f for p, f in zip(cpu["pass-through"], values, strict=True)]
                by_rps = [f / p for f, p in zip(rps[name], rps["pass-through"], strict=True)]
                print(
                    f"{name} / pass-through: {statistics.median(by_rps):.3f} requests/s, "
                    f"{statistics.median(by_cpu):.3f} CPU basis (per round, median)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
