"""The report's detail sections, after the headline and the verdicts: where the cores went, latency at half
of peak, the lone request, workers, decryptor, encoder, the concurrency sweep, memory; and the table
helpers they share."""

from __future__ import annotations

import os
from pathlib import Path

from .headline import Comparison
from .results import Results
from .rounds import Sample, Stat, cores, ratio_per_round, share, stat


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def span(s: Stat, fmt: str = ",.0f") -> str:
    return f"{s.median:{fmt}} ({s.low:{fmt}}-{s.high:{fmt}})"


def other_share(samples: list[Sample]) -> Stat:
    return share(samples, "other_cpu_s")


def cpu_breakdown(h: Comparison) -> list[str]:
    lines = [
        "",
        "### Where the cores went during the headline runs",
        "",
        "CPU µs per request of each process (medians over the rounds) and the share of all cores each "
        "took (/proc; wrk's from its own /proc entry). The proxy can use one core; wrk, the origin and the "
        "proxy share the machine. *Other processes*: the rest of the cores' busy time (/proc/stat), other "
        "jobs and interrupt work charged to no process.",
        "",
    ]
    rows = []
    for name, label in h.labels.items():
        s = h.samples[name]
        rows.append(
            [
                label,
                f"{stat(s, 'proxy_us').median:.0f}",
                f"{stat(s, 'wrk_us').median:.0f}",
                f"{stat(s, 'origin_us').median:.0f}",
                f"{share(s, 'proxy_cpu_s').median:.0%}",
                f"{share(s, 'wrk_cpu_s').median:.0%}",
                f"{share(s, 'origin_cpu_s').median:.0%}",
                f"{other_share(s).median:.0%}",
            ]
        )
    header = [
        "contender",
        "proxy µs",
        "wrk µs",
        "origin µs",
        "proxy share",
        "wrk share",
        "origin share",
        "other processes",
    ]
    return lines + table(header, rows)


def half_peak_section(r: Results) -> list[str]:
    hp = r.half_peak
    if hp is None:
        return []
    lines = [
        "",
        "## Latency added by encryption at half of peak",
        "",
        f"Offered load: {hp.connections} connections, each waiting a random time (exponential, mean "
        f"{hp.delay_ms} ms: Poisson arrivals, not bursts in step) before every request "
        f"(wrk's `delay()`), about {hp.target_rps:,.0f} rps = half the FLE median rate of the headline. "
        "Latencies are wrk's as its Lua `done()` sees them: after wrk's own coordinated-omission "
        "correction (a response slower than a connection's mean request interval adds the requests that "
        "interval would have sent). The added p99 is the FLE p99 minus the pass-through p99 of the same "
        "round, median over rounds.",
        "",
    ]
    rows = []
    for name, samples in hp.samples.items():
        rows.append(
            [
                name,
                span(stat(samples, "rps")),
                f"{stat(samples, 'p50_ms').median:.2f}",
                span(stat(samples, "p99_ms"), ".2f"),
                f"{stat(samples, 'proxy_us').median:.0f}",
                str(sum(s.errors for s in samples)),
            ]
        )
    lines += table(["path", "achieved rps", "p50 ms", "p99 ms (range)", "proxy CPU µs", "errors"], rows)
    added = hp.added_p99()
    lines += ["", f"Added p99: {added.median:.2f} ms (rounds {added.low:.2f} to {added.high:.2f})."]
    step = hp.encrypt_step
    if step is not None and step.count:
        lines += [
            "",
            f"The encryption step itself, as the proxy timed it (`fle_proxy_encrypt_duration_seconds` over "
            f"the paced FLE runs, {step.count:,.0f} bodies): mean {step.mean_ms:.3f} ms, p50 "
            f"{step.quantile_ms(0.5):.3f} ms, p99 {step.quantile_ms(0.99):.3f} ms (interpolated inside the "
            "histogram's buckets, as Prometheus' histogram_quantile). The rest of the added p99 is waiting: "
            "the same offered rate keeps the proxy's core busier on the encrypting path.",
        ]
    return lines


def lone_section(r: Results) -> list[str]:
    lone = r.lone
    if lone is None:
        return []
    lines = [
        "",
        "## Latency added by encryption to a request arriving alone (issue 27)",
        "",
        f"One keep-alive connection, one request in flight, a pause of {lone.gap_ms / 2:g}-"
        f"{lone.gap_ms * 1.5:g} ms (uniform) between an answer and the next request, so the proxy "
        f"(`--workers 1`, stdlib loop) is idle when each arrives: no queue. {lone.requests:,} requests per "
        f"path and round, {lone.rounds} round(s), the encrypting path (the 3-field form) and pass-through "
        "(the same bytes as `text/plain`) alternating first. The client is a blocking socket loop in the "
        "harness (`benchmarks/lone.py`: no HTTP library, garbage collector off), timed from the first byte "
        "sent to the last byte read; its own few µs are in both paths' figures and cancel in the "
        "difference. Quantiles are nearest-rank over each batch; *added* is FLE minus pass-through per "
        "round, median over the rounds.",
        "",
    ]
    rows = []
    for name, samples in lone.samples.items():
        rows.append(
            [
                name,
                span(stat(samples, "p50_ms"), ".3f"),
                span(stat(samples, "p99_ms"), ".3f"),
                f"{stat(samples, 'mean_ms').median:.3f}",
                f"{max(s.max_ms for s in samples):.2f}",
                f"{stat(samples, 'proxy_us').median:.0f}",
                str(sum(s.requests for s in samples)),
                str(sum(s.errors for s in samples)),
            ]
        )
    header = [
        "path",
        "p50 ms (range)",
        "p99 ms (range)",
        "mean ms",
        "max ms",
        "proxy CPU µs",
        "requests",
        "errors",
    ]
    lines += table(header, rows)
    p50, p99 = lone.added("p50_ms"), lone.added("p99_ms")
    lines += [
        "",
        f"Added by encryption: p50 {p50.median:.3f} ms (rounds {p50.low:.3f} to {p50.high:.3f}), p99 "
        f"{p99.median:.3f} ms (rounds {p99.low:.3f} to {p99.high:.3f}).",
    ]
    step = lone.encrypt_step
    if step is not None and step.count:
        lines += [
            "",
            f"The encryption step as the proxy timed it over these FLE batches ({step.count:,.0f} bodies): "
            f"mean {step.mean_ms:.3f} ms, p50 {step.quantile_ms(0.5):.3f} ms, p99 "
            f"{step.quantile_ms(0.99):.3f} ms.",
        ]
    return lines


def workers_section(r: Results) -> list[str]:
    w = r.workers
    if w is None:
        return []
    n = cores()
    lines = [
        "",
        "## Worker processes: `--workers 1` against `--workers 2` (encrypting path)",
        "",
        f"wrk (1 thread, {w.connections} connections) in {w.rounds} interleaved round(s). wrk and the "
        f"origin run on the same {n} cores as the workers, so the second worker gets only what they leave: "
        "the columns show what each took. *Ceiling* is the rate the machine would reach if proxy, wrk and "
        f"origin had all {n} cores to themselves at these per-request costs: {n} core-seconds / (proxy + "
        "wrk + origin CPU per request). What wrk and the origin take comes out of the cores a second worker "
        "needs, so 2x is out of reach here (on a deployment the clients are elsewhere); *other processes* "
        "is everything else the cores did meanwhile (other jobs, and kernel interrupt work charged to no "
        "process), which a quiet run keeps to a few per cent.",
        "",
    ]
    base = w.samples.get("1")
    rows = []
    for name, samples in w.samples.items():
        proxy, wrk_us, origin = (stat(samples, a).median for a in ("proxy_us", "wrk_us", "origin_us"))
        ceiling = n * 1e6 / (proxy + wrk_us + origin) if proxy + wrk_us + origin else float("nan")
        vs = span(ratio_per_round(samples, base, "rps"), ".2f") if base is not None else "-"
        rows.append(
            [
                name,
                span(stat(samples, "rps")),
                vs,
                f"{proxy:.0f}",
                f"{wrk_us:.0f}",
                f"{origin:.0f}",
                f"{share(samples, 'proxy_cpu_s').median:.0%}",
                f"{share(samples, 'wrk_cpu_s').median:.0%}",
                f"{share(samples, 'origin_cpu_s').median:.0%}",
                f"{other_share(samples).median:.0%}",
                f"{ceiling:,.0f}",
            ]
        )
    header = [
        "workers",
        "rps (range)",
        "vs 1 worker",
        "proxy CPU µs / req",
        "wrk CPU µs / req",
        "origin CPU µs / req",
        "proxy share of cores",
        "wrk share",
        "origin share",
        "other processes",
        "ceiling rps",
    ]
    return lines + table(header, rows)


def decrypt_section(r: Results) -> list[str]:
    if r.decrypt is None:
        if not r.decrypt_note:
            return []
        return ["", "## Decryptor on every core", "", r.decrypt_note]
    d = r.decrypt
    lines = [
        "",
        "## Decryptor on every core",
        "",
        f"`{d.command}` (a short run: {d.items} items, {d.rounds} round(s); docs/benchmarks.md has the "
        'method and longer runs). `{"recent": N}` items/s with one process pinned to one core, one '
        "process on every core, and 2 worker processes.",
        "",
    ]
    rows = []
    for backend, s in d.scaling.items():
        rows.append(
            [
                backend,
                f"{s.get('items_per_s@1core', 0):,.0f}",
                f"{s.get('items_per_s@1', 0):,.0f}",
                f"{s.get('items_per_s@2', 0):,.0f}",
                f"{s.get('ratio_2_to_1core', float('nan')):.2f}x",
            ]
        )
    header = ["backend", "1 core items/s", "1 process items/s", "2 processes items/s", "2 processes / 1 core"]
    return lines + table(header, rows)


def encoder_section(r: Results) -> list[str]:
    if not r.encoder:
        return []
    lines = [
        "",
        "## Field encryption (one message per field, RSA-2048, suite 0x0178)",
        "",
        "Median µs per message over interleaved batches in one process. *primitives* is the same "
        "`cryptography` calls (2 random draws, RSA-OAEP encrypt, HKDF-SHA256, AES-GCM header tag and one "
        "frame) in a bare loop: the floor for any encoder in Python.",
        "",
    ]
    rows = []
    for e in r.encoder:
        prim = f"{e.primitives_us:.1f}" if e.primitives_us is not None else "-"
        frac = f"{e.fraction_of_limit:.2f}" if e.fraction_of_limit is not None else "-"
        rows.append(
            [f"{e.size:,} B", f"{e.esdk_us:.1f}", f"{e.sdk_us:.1f}", prim, f"{e.speedup_vs_sdk:.2f}x", frac]
        )
    header = [
        "field size",
        "edge_proxy.encrypting.esdk µs",
        "aws-encryption-sdk µs",
        "primitives µs",
        "speed-up vs SDK",
        "fraction of limit",
    ]
    return lines + table(header, rows)


def matrix_section(r: Results, images: list[Path], out: Path) -> list[str]:
    if not r.matrix:
        return []
    names = list(r.matrix)
    lines = [
        "",
        "## Throughput, latency and CPU versus concurrency",
        "",
        "The headline's three asyncio contenders at several connection counts (wrk, 1 thread), interleaved; "
        "medians of the runs. It shows where each saturates; the headline above is the comparison.",
        "",
    ]
    rows = []
    for c in sorted(next(iter(r.matrix.values()))):
        row = [str(c)]
        for name in names:
            p = r.matrix[name][c]
            cpu = f" / {p.cpu_us:.0f} µs" if p.cpu_us else ""
            row.append(
                f"{p.rps:,.0f} / {p.p50_ms:.2f} / {p.p99_ms:.2f}{cpu}"
                + (f" ({p.errors} err)" if p.errors else "")
            )
        rows.append(row)
    lines += table(["connections", *[f"{n}: rps / p50 ms / p99 ms / CPU per request" for n in names]], rows)
    for path in images:
        lines += ["", f"![{path.stem}]({os.path.relpath(path, out.parent)})"]
    return lines


def memory_section(r: Results) -> list[str]:
    if r.upload is None and r.long_run is None:
        return []
    lines = ["", "## Memory", ""]
    if r.upload is not None:
        u = r.upload
        lines += [
            f"Upload of {u.size:,} bytes (`application/octet-stream`, no profile applies) generated on the "
            f"fly by an aiohttp client, through the proxy to the origin, which counted "
            f"{u.origin_received:,} bytes: {u.seconds:.1f} s, {u.mib_per_s:.0f} MiB/s. Proxy RSS "
            f"{u.rss_before_mib:.1f} MiB before, {u.rss_peak_mib:.1f} MiB peak (sampled every 20 ms), "
            f"{u.rss_after_mib:.1f} MiB after.",
            "",
        ]
    if r.long_run is not None:
        lr = r.long_run
        lines += [
            f"{lr.requests:,} FLE form posts at 16 connections in {lr.seconds:.1f} s ({lr.errors} errors): "
            f"proxy RSS {lr.rss_start_mib:.1f} MiB after the first tenth, {lr.rss_end_mib:.1f} MiB at the "
            f"end, {lr.rss_peak_mib:.1f} MiB peak.",
            "",
        ]
    return lines
