"""`python -m benchmarks [--quick]`: run every benchmark, write docs/benchmarks-proxy.md and the plots.

The full run takes a few minutes; `--quick` (a tiny matrix, about 1 s per point) is what the test suite
uses to check that the harness works. It never asserts speed: the report states which targets were met.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import aws_encryption_sdk
import cryptography

from . import encoder, load, report, wrk
from .servers import FORM_TYPE, PASS_TYPE, ROOT, running, write_config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny matrix, ~1 s per point (for the smoke test)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-proxy.md", help="the report")
    p.add_argument("--img-dir", type=Path, help="where the PNG plots go (default: img/ next to the report)")
    p.add_argument("--json", type=Path, help="also write the raw medians as JSON here")
    p.add_argument("--seconds", type=float, help="seconds per wrk run (default 4; quick 1)")
    p.add_argument("--repeats", type=int, help="runs per point, median taken (default 3; quick 1)")
    p.add_argument("--concurrency", help="comma-separated wrk connection counts (default 1,4,16,64)")
    p.add_argument("--upload-mib", type=int, help="size of the streamed upload (default 1024; quick 16)")
    p.add_argument("--rss-requests", type=int, help="requests in the RSS run (default 20000; quick 1000)")
    p.add_argument("--only", help="comma-separated subset: encoder,proxy,workers,memory")
    p.add_argument("--note", default="", help="load conditions to state in the report")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quick = args.quick
    seconds = args.seconds or (1.0 if quick else 4.0)
    repeats = args.repeats or (1 if quick else 3)
    concurrencies = [int(c) for c in (args.concurrency or ("1,8" if quick else "1,4,16,64")).split(",")]
    upload_bytes = (args.upload_mib or (16 if quick else 1024)) * 2**20
    rss_requests = args.rss_requests or (1000 if quick else 20_000)
    only = set((args.only or "encoder,proxy,workers,memory").split(","))
    out: Path = args.out
    img_dir: Path = args.img_dir or out.parent / "img"

    results = report.Results(
        command="python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:]),
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        seconds_per_point=seconds,
        repeats=repeats,
        note=args.note,
        load_before=" ".join(f"{x:.2f}" for x in os.getloadavg()),
    )
    results.versions = {
        "aiohttp": aiohttp.__version__,
        "cryptography": cryptography.__version__,
        "aws-encryption-sdk": aws_encryption_sdk.__version__,
        "wrk": wrk.version() if only & {"proxy", "workers", "memory"} else "-",
        "fle-edge commit": report.git_commit(ROOT),
    }

    def step(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if "encoder" in only:
        step("encoder: edge_proxy.esdk vs aws-encryption-sdk vs primitives")
        results.encoder = encoder.run(batch=50 if quick else 200, rounds=3 if quick else 15)

    with tempfile.TemporaryDirectory(prefix="fle-bench-") as tmp, running(Path(tmp)) as servers:
        config = write_config(Path(tmp) / "config")
        origin = servers.origin()
        if "proxy" in only:
            fle = servers.fle_proxy(origin, config)
            reference = servers.reference(origin)
            load.check_forwarding(fle.url)
            targets = [
                load.Target("fle", fle.url, FORM_TYPE, (fle.pid,)),
                load.Target("passthrough", fle.url, PASS_TYPE, (fle.pid,)),
                load.Target("reference", reference.url, FORM_TYPE, (reference.pid,)),
            ]
            load.warm_up(targets)
            step(f"proxy matrix: connections {concurrencies}, {seconds:g} s x {repeats}")
            results.matrix = load.matrix(targets, concurrencies, seconds, repeats)
            peak_rps = report.peak(results.matrix["fle"])[1].rps
            step(f"latency at half of the FLE peak ({peak_rps / 2:,.0f} rps)")
            results.half_peak = load.paced(targets[:2], peak_rps / 2, seconds, repeats)
            servers.stop(reference)
            servers.stop(fle)
        if "workers" in only:
            step("worker scaling: --workers 1 vs 2")
            one = servers.fle_proxy(origin, config, workers=1, name="fle-1")
            two = servers.fle_proxy(origin, config, workers=2, name="fle-2")
            contenders = {1: load.Target("1", one.url, FORM_TYPE), 2: load.Target("2", two.url, FORM_TYPE)}
            load.warm_up(list(contenders.values()))
            connections = 16 if quick else 64
            by_name = load.matrix(list(contenders.values()), [connections], seconds, repeats)
            results.scaling = {n: by_name[t.name][connections] for n, t in contenders.items()}
            results.scaling_connections = connections
            servers.stop(two)
            servers.stop(one)
        if "memory" in only:
            fle = servers.fle_proxy(origin, config, name="fle-memory")
            load.check_forwarding(fle.url)
            step(f"memory: streaming {upload_bytes / 2**20:.0f} MiB through the proxy")
            results.upload = load.upload(fle, upload_bytes)
            if results.upload.origin_received != upload_bytes:
                raise SystemExit(
                    f"upload: origin received {results.upload.origin_received} of {upload_bytes}"
                )
            step(f"memory: RSS over {rss_requests:,} requests")
            results.long_run = load.long_run(fle, rss_requests)
            servers.stop(fle)

    results.load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    images = report.plots(results, img_dir) if results.matrix else []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.markdown(results, images, out))
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2, default=str))
    step(f"wrote {out}" + "".join(f", {p}" for p in images))
    for row in report.summary_rows(results):
        print(" | ".join(row), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
