"""Profile the edge proxy under wrk load with py-spy and print where its time goes.

`python -m benchmarks.profile [--mode fle|passthrough] [--seconds 10] [--connections 16] [--rate RPS]
[--native]` starts the origin and a one-worker proxy on loopback, drives it with wrk, samples the proxy with
`py-spy record --format raw` (the bench extra; needs ptrace rights), and prints the functions with the
most samples, inclusive and self. `--rate` paces wrk as the half-of-peak run does (Poisson arrivals at
about RPS, benchmarks/headline.py) instead of saturating `--connections`; `--native` adds the C frames
(OpenSSL, the interpreter, system calls). Used to say what limits a missed target (docs/performance.md).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from . import wrk
from .headline import pacing
from .servers import FORM, FORM_TYPE, PASS_TYPE, running, write_config


def summarise(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "inclusive %  self %  function (file)"]
    for frame, n in inclusive.most_common(top):
        lines.append(f"{100 * n / total:10.1f}  {100 * own[frame] / total:6.1f}  {frame}")
    lines += ["", "top self time:"]
    for frame, n in own.most_common(top):
        lines.append(f"{100 * n / total:6.1f}  {frame}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("--mode", choices=["fle", "passthrough", "reference"], default="fle")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--rate", type=float, default=0.0, help="offered rps, paced (default: saturate)")
    p.add_argument("--native", action="store_true", help="sample C frames too (py-spy --native)")
    args = p.parse_args()
    if not shutil.which("py-spy"):
        print("py-spy is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fle-profile-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        if args.mode == "reference":
            target = servers.reference(origin)
        else:
            target = servers.fle_proxy(origin, write_config(Path(tmp) / "config"))
        content_type = PASS_TYPE if args.mode == "passthrough" else FORM_TYPE
        result: list[wrk.WrkResult] = []
        connections, delay_ms = pacing(args.rate) if args.rate > 0 else (args.connections, 0)
        load = threading.Thread(
            target=lambda: result.append(
                wrk.run(
                    target.url + "/submit",
                    body=FORM,
                    content_type=content_type,
                    connections=connections,
                    seconds=args.seconds + 2,
                    delay_ms=delay_ms,
                )
            )
        )
        load.start()
        raw = Path(tmp) / "profile.raw"
        subprocess.run(
            [
                "py-spy",
                "record",
                "-p",
                str(target.pid),
                "-d",
                str(args.seconds),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(raw),
                # --native must stop the process to unwind C frames (slower, more perturbing)
                *(["--native"] if args.native else ["--nonblocking"]),
            ],
            check=True,
            capture_output=True,
        )
        load.join()
        print(
            f"{args.mode}: {result[0].rps:,.0f} rps at {connections} connections"
            f"{' (paced)' if delay_ms else ''} while sampled, p50 {result[0].p50_ms:.2f} ms, "
            f"p99 {result[0].p99_ms:.2f} ms"
        )
        print(summarise(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
