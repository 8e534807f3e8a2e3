"""`python -m benchmarks [--quick] [--write-docs]`: run every benchmark, write the report and the plots.

The report goes to benchmark-results/ (ignored by git) unless --out says where, or --write-docs asks to
regenerate the committed docs/benchmarks-proxy.md, docs/img/*.png and docs/performance.md's verdicts.
What a scenario needs beyond the base install (matplotlib from the bench extra, wrk; moto and SoftHSM2
for the decryptor) is checked before anything is measured.

The report opens with issue 17's headline table (reference proxy, the edge proxy's pass-through and
encrypting paths, and both again on uvloop, every one `--workers 1`, in interleaved rounds) and a verdict
table computed from the run: issue 27's targets (from the headline, the encryption step's own timing at
half of peak, and the `lone` scenario: a request arriving alone on one paced connection), then issue 17's
and issue 7's that still stand. With the defaults the full run takes about 7 minutes; `--quick` (about 1 s
per point, one round, no decryptor) is what the test suite runs to check that the harness works. It never
asserts speed: the report states which targets were met.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import aws_encryption_sdk
import cryptography

from . import decrypt_scaling, encoder, headline, load, lone, needs, plots, report, wrk
from .results import Results
from .rounds import Contender, stat
from .servers import FORM_TYPE, PASS_TYPE, ROOT, Server, Servers, running, write_config

SCENARIOS = ("encoder", "proxy", "lone", "sweep", "workers", "decrypt", "memory")
DEFAULT_OUT = ROOT / "benchmark-results" / "benchmarks-proxy.md"  # git ignores it: a run changes no file
DOCS_REPORT = ROOT / "docs" / "benchmarks-proxy.md"  # --write-docs: the committed report


@dataclass(frozen=True, slots=True)
class Settings:
    seconds: float
    repeats: int
    connections: int  # the headline's
    concurrencies: list[int]  # the sweep's
    workers_connections: int
    upload_bytes: int
    rss_requests: int
    only: frozenset[str]
    uvloop: bool
    lone_requests: int  # per path and round of the lone-request scenario
    lone_gap_ms: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny matrix, ~1 s per point (for the smoke test)")
    p.add_argument(
        "--out",
        type=Path,
        help=f"the report (default: {DEFAULT_OUT.relative_to(ROOT)}; with --write-docs "
        f"{DOCS_REPORT.relative_to(ROOT)})",
    )
    p.add_argument(
        "--write-docs",
        action="store_true",
        help="regenerate the committed results: docs/benchmarks-proxy.md, docs/img/*.png and, after a full "
        "run, the verdict block of docs/performance.md",
    )
    p.add_argument("--img-dir", type=Path, help="where the PNG plots go (default: img/ next to the report)")
    p.add_argument("--json", type=Path, help="also write the raw samples as JSON here")
    p.add_argument("--seconds", type=float, help="seconds per wrk run (default 4; quick 1)")
    p.add_argument(
        "--repeats",
        type=int,
        help="interleaved rounds of the headline, half-peak and workers "
        "runs (default 5; quick 1); the concurrency sweep takes half as many",
    )
    p.add_argument("--connections", type=int, help="wrk connections of the headline (default 32; quick 8)")
    p.add_argument("--concurrency", help="connection counts of the sweep (default 1,4,16,64; quick 1,8)")
    p.add_argument("--upload-mib", type=int, help="size of the streamed upload (default 1024; quick 16)")
    p.add_argument("--rss-requests", type=int, help="requests in the RSS run (default 20000; quick 1000)")
    p.add_argument("--decrypt-items", type=int, default=1000, help="batch of the decryptor run (>= 256)")
    p.add_argument("--decrypt-rounds", type=int, default=3, help="rounds of the decryptor run")
    p.add_argument(
        "--lone-requests",
        type=int,
        help="requests per path and round of the lone scenario (default 400; quick 40)",
    )
    p.add_argument(
        "--lone-gap-ms",
        type=float,
        default=5.0,
        help="mean pause between an answer and the next request in the lone scenario (default 5)",
    )
    p.add_argument("--no-uvloop", action="store_true", help="leave the uvloop contenders out of the headline")
    p.add_argument(
        "--only",
        help="comma-separated subset of "
        + ",".join(SCENARIOS)
        + " (default: all; with --quick all but decrypt)",
    )
    p.add_argument("--note", default="", help="load conditions to state in the report")
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> Settings:
    quick = args.quick
    default_only = [s for s in SCENARIOS if s != "decrypt"] if quick else list(SCENARIOS)
    only = frozenset(args.only.split(",")) if args.only else frozenset(default_only)
    if unknown := only - set(SCENARIOS):
        raise SystemExit(f"--only: unknown scenario(s) {', '.join(sorted(unknown))}")
    return Settings(
        seconds=args.seconds or (1.0 if quick else 4.0),
        repeats=args.repeats or (1 if quick else 5),
        connections=args.connections or (8 if quick else 32),
        concurrencies=[int(c) for c in (args.concurrency or ("1,8" if quick else "1,4,16,64")).split(",")],
        workers_connections=16 if quick else 64,
        upload_bytes=(args.upload_mib or (16 if quick else 1024)) * 2**20,
        rss_requests=args.rss_requests or (1000 if quick else 20_000),
        only=only,
        uvloop=not args.no_uvloop and _uvloop_installed(),
        lone_requests=args.lone_requests or (40 if quick else 400),
        lone_gap_ms=args.lone_gap_ms,
    )


def _uvloop_installed() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_proxy(results: Results, servers: Servers, origin: Server, config: Path, s: Settings) -> None:
    """Headline, half of peak, the concurrency sweep and the lone request: each proxy one worker, started
    once for all."""
    fle = servers.fle_proxy(origin, config, admin=True)  # its /metrics: the encryption step's own timing
    reference = servers.reference(origin)
    load.check_forwarding(fle.url)
    contenders = [
        Contender("reference", "reference proxy (no encryption)", reference, FORM_TYPE),
        Contender("passthrough", "FLE pass-through", fle, PASS_TYPE),
        Contender("fle", "FLE encrypting 1 of 3 fields", fle, FORM_TYPE),
    ]
    started = [fle, reference]
    if s.uvloop and "proxy" in s.only:
        fast = servers.fle_proxy(origin, config, name="fle-uvloop", loop="uvloop")
        load.check_forwarding(fast.url)
        started.append(fast)
        contenders += [
            Contender("passthrough_uvloop", "FLE pass-through, uvloop", fast, PASS_TYPE),
            Contender("fle_uvloop", "FLE encrypting 1 of 3 fields, uvloop", fast, FORM_TYPE),
        ]
    if "proxy" in s.only:
        _step(
            f"headline: {len(contenders)} contenders, {s.connections} connections, "
            f"{s.seconds:g} s x {s.repeats} rounds"
        )
        results.headline = headline.compare(contenders, origin, s.connections, s.seconds, s.repeats)
        peak = stat(results.headline.samples["fle"], "rps").median
        _step(f"latency at half of the FLE peak ({peak / 2:,.0f} rps)")
        paced = [c for c in contenders if c.name in ("passthrough", "fle")]
        results.half_peak = headline.half_peak(
            paced, origin, peak / 2, s.seconds, s.repeats, admin_url=fle.admin_url
        )
    if "sweep" in s.only:
        repeats = max(1, s.repeats // 2)
        targets = [load.Target(c.name, c.server.url, c.content_type, (c.server.pid,)) for c in contenders[:3]]
        targets = [targets[2], targets[1], targets[0]]  # fle, passthrough, reference: the plots' order
        load.warm_up(targets)
        _step(f"sweep: connections {s.concurrencies}, {s.seconds:g} s x {repeats}")
        results.matrix = load.matrix(targets, s.concurrencies, s.seconds, repeats)
    if "lone" in s.only:  # the headline's FLE proxy, idle now: no second one to start
        measure_lone(results, fle, s)
    for server in reversed(started):
        servers.stop(server)


def measure_lone(results: Results, fle: Server, s: Settings) -> None:
    """Issue 27's lone request against `fle` (one worker, stdlib loop, admin listener for the encryption
    step's own timing), nothing else sending to it meanwhile."""
    _step(
        f"lone request: one connection, {s.lone_requests} requests per path x {s.repeats} rounds, "
        f"{s.lone_gap_ms:g} ms mean pause"
    )
    results.lone = lone.run(fle, s.lone_requests, s.repeats, s.lone_gap_ms, admin_url=fle.admin_url)


def run_lone(results: Results, servers: Servers, origin: Server, config: Path, s: Settings) -> None:
    """The lone request alone (`--only lone`): a proxy of its own, configured as the headline's."""
    fle = servers.fle_proxy(origin, config, name="fle-lone", admin=True)
    load.check_forwarding(fle.url)
    measure_lone(results, fle, s)
    servers.stop(fle)


def run_workers(results: Results, servers: Servers, origin: Server, config: Path, s: Settings) -> None:
    one = servers.fle_proxy(origin, config, workers=1, name="fle-1")
    two = servers.fle_proxy(origin, config, workers=2, name="fle-2")
    contenders = [
        Contender("1", "--workers 1", one, FORM_TYPE),
        Contender("2", "--workers 2", two, FORM_TYPE),
    ]
    _step(f"workers: 1 vs 2, {s.workers_connections} connections, {s.seconds:g} s x {s.repeats} rounds")
    results.workers = headline.compare(contenders, origin, s.workers_connections, s.seconds, s.repeats)
    servers.stop(two)
    servers.stop(one)


def run_memory(results: Results, servers: Servers, origin: Server, config: Path, s: Settings) -> None:
    fle = servers.fle_proxy(origin, config, name="fle-memory")
    load.check_forwarding(fle.url)
    _step(f"memory: streaming {s.upload_bytes / 2**20:.0f} MiB through the proxy")
    results.upload = load.upload(fle, s.upload_bytes)
    if results.upload.origin_received != s.upload_bytes:
        raise SystemExit(f"upload: origin received {results.upload.origin_received} of {s.upload_bytes}")
    _step(f"memory: RSS over {s.rss_requests:,} requests")
    results.long_run = load.long_run(fle, s.rss_requests)
    servers.stop(fle)


def report_path(args: argparse.Namespace) -> Path:
    """--out, else the committed report with --write-docs, else benchmark-results/: a run never overwrites
    a committed file unless asked to."""
    if args.out is not None:
        return Path(args.out)
    return DOCS_REPORT if args.write_docs else DEFAULT_OUT


def check_needs(s: Settings) -> None:
    """Stop before measuring anything when a scenario asked for cannot finish (one line: what to install)."""
    needs.require(
        "python -m benchmarks",
        modules=("matplotlib",) if s.only & {"sweep", "memory"} else (),  # the plots
        programs=("wrk",) if s.only & {"proxy", "sweep", "workers", "memory"} else (),
    )
    if "decrypt" in s.only:
        needs.require_keystore_backends("python -m benchmarks (decrypt)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    s = settings(args)
    check_needs(s)
    out = report_path(args)
    img_dir: Path = args.img_dir or out.parent / "img"
    results = Results(
        command="python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:]),
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        seconds_per_point=s.seconds,
        repeats=s.repeats,
        note=args.note,
        load_before=_loadavg(),
    )
    results.versions = {
        "aiohttp": aiohttp.__version__,
        "cryptography": cryptography.__version__,
        "aws-encryption-sdk": aws_encryption_sdk.__version__,
        "wrk": wrk.version() if s.only & {"proxy", "sweep", "workers", "memory"} else "-",
        "fle-edge commit": report.git_commit(ROOT),
    }
    if s.uvloop:
        results.versions["uvloop"] = importlib.metadata.version("uvloop")

    if "encoder" in s.only:
        _step("encoder: edge_proxy.encrypting.esdk vs aws-encryption-sdk vs primitives")
        results.encoder = encoder.run(batch=50 if args.quick else 200, rounds=3 if args.quick else 15)

    with tempfile.TemporaryDirectory(prefix="fle-bench-") as tmp, running(Path(tmp)) as servers:
        config = write_config(Path(tmp) / "config")
        origin = servers.origin()
        if s.only & {"proxy", "sweep"}:
            run_proxy(results, servers, origin, config, s)
        elif "lone" in s.only:
            run_lone(results, servers, origin, config, s)
        if "workers" in s.only:
            run_workers(results, servers, origin, config, s)
        if "memory" in s.only:
            run_memory(results, servers, origin, config, s)

    if "decrypt" in s.only:
        _step(f"decryptor: bench_decrypt --processes 1,2, {args.decrypt_items} items x {args.decrypt_rounds}")
        results.decrypt = decrypt_scaling.run(args.decrypt_items, args.decrypt_rounds)
    else:
        results.decrypt_note = (
            "not run by this invocation (`--only` without `decrypt`, or `--quick`); "
            "`python -m benchmarks.bench_decrypt --processes 1,2` measures it, docs/benchmarks.md has "
            "its latest figures"
        )

    results.load_after = _loadavg()
    results.finished = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    images = plots.plots(results, img_dir) if results.matrix or results.long_run else []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.markdown(results, images, out))
    written = [out, *images]
    # docs/performance.md's verdict block: from a full run only, and only beside the report (a test's
    # run writes its report elsewhere and leaves the docs alone)
    performance = out.parent / "performance.md"
    if (
        args.write_docs
        and s.only == set(SCENARIOS)
        and not args.quick
        and report.update_performance(performance, results, out)
    ):
        written.append(performance)
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2, default=str))
    _step("wrote " + ", ".join(str(p) for p in written))
    for row in report.summary_rows(results):
        print(" | ".join(row), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
