"""Write the results: docs/benchmarks-proxy.md (machine, versions, commands, medians, ratios) and plots."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .encoder import EncoderResult
from .load import LongRun, Paced, Point, Upload

# The targets of issue 7, as (label, comparison, threshold)
ENCODER_VS_SDK = 5.0
ENCODER_VS_LIMIT = 0.6
PROXY_VS_PASSTHROUGH = 0.85
PROXY_VS_REFERENCE = 0.9
ADDED_P99_MS = 1.0


@dataclass
class Results:
    command: str
    started: str
    seconds_per_point: float
    repeats: int
    note: str
    load_before: str = ""
    load_after: str = ""
    encoder: list[EncoderResult] = field(default_factory=list)
    matrix: dict[str, dict[int, Point]] = field(default_factory=dict)
    half_peak: Paced | None = None
    scaling: dict[int, Point] = field(default_factory=dict)  # workers -> point
    scaling_connections: int = 0
    upload: Upload | None = None
    long_run: LongRun | None = None
    versions: dict[str, str] = field(default_factory=dict)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(mem) / 2**20:.1f} GiB"
    except (OSError, IndexError, ValueError):
        memory = "unknown"
    return {
        "cpu": cpu,
        "cores available": str(len(os.sched_getaffinity(0))),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def peak(points: dict[int, Point]) -> tuple[int, Point]:
    return max(points.items(), key=lambda item: item[1].rps)


def cpu_ratios(r: Results) -> tuple[float, float, float] | None:
    """Medians over concurrencies of pass-through/FLE and reference/FLE CPU per request, and FLE - pass µs."""
    m = r.matrix
    if not {"fle", "passthrough", "reference"} <= m.keys():
        return None
    vs_pass, vs_ref, added = [], [], []
    for c, fle in m["fle"].items():
        p, ref = m["passthrough"][c].cpu_us, m["reference"][c].cpu_us
        if fle.cpu_us and p and ref:
            vs_pass.append(p / fle.cpu_us)
            vs_ref.append(ref / fle.cpu_us)
            added.append(fle.cpu_us - p)
    if not vs_pass:
        return None
    return statistics.median(vs_pass), statistics.median(vs_ref), statistics.median(added)


def summary_rows(r: Results) -> list[tuple[str, str, str, str]]:
    """(target, threshold, measured, verdict) for every target that was measured."""
    rows = []
    small = [e for e in r.encoder if e.primitives_us is not None]
    if small:
        e = small[0]
        rows.append(
            (
                f"encoder vs aws-encryption-sdk ({e.size} B field)",
                f">= {ENCODER_VS_SDK:g}x",
                f"{e.speedup_vs_sdk:.2f}x",
                _verdict(e.speedup_vs_sdk >= ENCODER_VS_SDK),
            )
        )
        fraction = e.fraction_of_limit or 0.0
        rows.append(
            (
                "encoder vs the primitives' limit",
                f">= {ENCODER_VS_LIMIT:g}",
                f"{fraction:.2f}",
                _verdict(fraction >= ENCODER_VS_LIMIT),
            )
        )
    m = r.matrix
    if {"fle", "passthrough", "reference"} <= m.keys():
        _, fle = peak(m["fle"])
        _, passthrough = peak(m["passthrough"])
        _, reference = peak(m["reference"])
        vs_pass = _ratio(fle.rps, passthrough.rps)
        vs_ref = _ratio(fle.rps, reference.rps)
        rows.append(
            (
                "proxy, 1 of 3 fields encrypted, vs its own pass-through (peak rps)",
                f">= {PROXY_VS_PASSTHROUGH:g}",
                f"{vs_pass:.2f}",
                _verdict(vs_pass >= PROXY_VS_PASSTHROUGH),
            )
        )
        rows.append(
            (
                "same, vs the reference aiohttp pass-through proxy (peak rps)",
                f">= {PROXY_VS_REFERENCE:g}",
                f"{vs_ref:.2f}",
                _verdict(vs_ref >= PROXY_VS_REFERENCE),
            )
        )
    cpu = cpu_ratios(r)
    if cpu is not None:
        vs_pass, vs_ref, added = cpu
        rows.append(
            (
                "same, from proxy CPU per request (load-independent): pass-through CPU / FLE CPU",
                f">= {PROXY_VS_PASSTHROUGH:g}",
                f"{vs_pass:.2f}",
                _verdict(vs_pass >= PROXY_VS_PASSTHROUGH),
            )
        )
        rows.append(
            (
                "same: reference CPU / FLE CPU",
                f">= {PROXY_VS_REFERENCE:g}",
                f"{vs_ref:.2f}",
                _verdict(vs_ref >= PROXY_VS_REFERENCE),
            )
        )
        rows.append(
            (
                "proxy CPU added per request by encryption (median over concurrencies)",
                "reported",
                f"{added:.0f} µs",
                "",
            )
        )
    if r.half_peak is not None and {"fle", "passthrough"} <= r.half_peak.points.keys():
        added = r.half_peak.points["fle"].p99_ms - r.half_peak.points["passthrough"].p99_ms
        rows.append(
            (
                "p99 latency added by encryption at half of peak",
                f"<= {ADDED_P99_MS:g} ms",
                f"{added:.2f} ms",
                _verdict(added <= ADDED_P99_MS),
            )
        )
    if {1, 2} <= r.scaling.keys():
        rows.append(
            (
                "`--workers 2` vs `--workers 1` (FLE rps)",
                "reported",
                f"{_ratio(r.scaling[2].rps, r.scaling[1].rps):.2f}x",
                "",
            )
        )
    if r.upload is not None:
        u = r.upload
        rows.append(
            (
                f"RSS growth streaming {u.size / 2**20:.0f} MiB (no profile applies)",
                "constant",
                f"{u.rss_peak_mib - u.rss_before_mib:+.1f} MiB peak",
                _verdict(u.rss_peak_mib - u.rss_before_mib < 64),
            )
        )
    if r.long_run is not None:
        lr = r.long_run
        growth = lr.rss_end_mib - lr.rss_start_mib
        rows.append(
            (
                f"RSS over {lr.requests:,} FLE requests (after the first tenth)",
                "no growth",
                f"{growth:+.1f} MiB",
                _verdict(growth < 16),
            )
        )
    return rows


def _connections_axis(ax: Any, r: Results) -> None:
    cs = sorted({c for points in r.matrix.values() for c in points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.minorticks_off()
    ax.set_xlabel("concurrent connections (wrk -c)")


def plots(r: Results, img_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    labels = {
        "fle": "edge proxy, 1 of 3 fields encrypted",
        "passthrough": "edge proxy, pass-through",
        "reference": "reference aiohttp proxy",
    }
    colors = {"fle": "tab:blue", "passthrough": "tab:orange", "reference": "tab:green"}
    written = []

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, points in r.matrix.items():
        cs = sorted(points)
        ax.plot(
            cs, [points[c].rps for c in cs], marker="o", label=labels.get(name, name), color=colors.get(name)
        )
    _connections_axis(ax, r)
    ax.set_ylabel("requests per second (median)")
    ax.set_title("Throughput, 3-field form POST, loopback")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = img_dir / "benchmark-throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    for ax, attr, title in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
        for name, points in r.matrix.items():
            cs = sorted(points)
            ax.plot(
                cs,
                [getattr(points[c], attr) for c in cs],
                marker="o",
                label=labels.get(name, name),
                color=colors.get(name),
            )
        _connections_axis(ax, r)
        ax.set_ylabel("latency, ms (median of runs)")
        ax.set_title(f"{title} latency")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    path = img_dir / "benchmark-latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    if r.long_run is not None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot([t for t, _ in r.long_run.samples], [m for _, m in r.long_run.samples])
        ax.set_xlabel("seconds")
        ax.set_ylabel("proxy RSS, MiB")
        ax.set_title(f"Proxy RSS over {r.long_run.requests:,} FLE requests")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path = img_dir / "benchmark-rss.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(r: Results, images: list[Path], out: Path) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by the benchmark harness (`benchmarks/`); do not edit by hand, re-run the command below.",
        "Every contender runs in the same invocation, interleaved run by run on the same machine, so the",
        "ratios hold even where absolute numbers move with machine load.",
        "",
        "## Run",
        "",
        f"- command: `{r.command}`",
        f"- started: {r.started}; {r.seconds_per_point:g} s per point, median of {r.repeats} run(s)",
        f"- load average before / after: {r.load_before} / {r.load_after}",
    ]
    if r.note:
        lines.append(f"- conditions: {r.note}")
    lines += ["", "## Machine and versions", ""]
    lines += _table(["what", "value"], [[k, v] for k, v in {**machine(), **r.versions}.items()])
    lines += ["", "## Targets", ""]
    lines += _table(["target", "goal", "measured", "verdict"], [list(row) for row in summary_rows(r)])

    if r.encoder:
        lines += [
            "",
            "## Field encryption (one message per field, RSA-2048, suite 0x0178)",
            "",
            "Median µs per message over interleaved batches in one process. *primitives* is the same "
            "`cryptography` calls (2 random draws, RSA-OAEP encrypt, HKDF-SHA256, AES-GCM header tag "
            "and one frame) in a bare loop: the floor for any encoder in Python.",
            "",
        ]
        rows = []
        for e in r.encoder:
            prim = f"{e.primitives_us:.1f}" if e.primitives_us is not None else "-"
            frac = f"{e.fraction_of_limit:.2f}" if e.fraction_of_limit is not None else "-"
            rows.append(
                [
                    f"{e.size:,} B",
                    f"{e.esdk_us:.1f}",
                    f"{e.sdk_us:.1f}",
                    prim,
                    f"{e.speedup_vs_sdk:.2f}x",
                    frac,
                ]
            )
        lines += _table(
            [
                "field size",
                "edge_proxy.esdk µs",
                "aws-encryption-sdk µs",
                "primitives µs",
                "speed-up vs SDK",
                "fraction of limit",
            ],
            rows,
        )

    if r.matrix:
        lines += [
            "",
            "## Proxy throughput and latency versus concurrency",
            "",
            "wrk (1 thread) POSTs the 3-field sample form (`name`, `email`, `phone`; the example profile "
            "encrypts `phone`) to each contender; the origin is a trivial aiohttp app that reads the body. "
            "*pass-through* is the same edge proxy process given the same bytes as `text/plain`, which no "
            "profile applies to; *reference* is `benchmarks/reference_proxy.py`. One worker each; wrk, "
            "proxy and origin share the machine's cores.",
            "",
        ]
        cs = sorted(next(iter(r.matrix.values())))
        rows = []
        for c in cs:
            row = [str(c)]
            for name in r.matrix:
                p = r.matrix[name][c]
                row.append(
                    f"{p.rps:,.0f} / {p.p50_ms:.2f} / {p.p99_ms:.2f}"
                    + (f" ({p.errors} err)" if p.errors else "")
                )
            if "fle" in r.matrix and "passthrough" in r.matrix:
                row.append(f"{_ratio(r.matrix['fle'][c].rps, r.matrix['passthrough'][c].rps):.2f}")
            if "fle" in r.matrix and "reference" in r.matrix:
                row.append(f"{_ratio(r.matrix['fle'][c].rps, r.matrix['reference'][c].rps):.2f}")
            rows.append(row)
        header = ["connections", *[f"{n}: rps / p50 ms / p99 ms" for n in r.matrix]]
        header += ["fle / pass-through", "fle / reference"][: len(rows[0]) - len(header)]
        lines += _table(header, rows)
        for path in images:
            rel = os.path.relpath(path, out.parent)
            lines += ["", f"![{path.stem}]({rel})"]

    if r.matrix and all(p.cpu_us for points in r.matrix.values() for p in points.values()):
        lines += [
            "",
            "### Proxy CPU time per request",
            "",
            "User + system CPU of the proxy process (not wrk's, not the origin's) per request, from "
            "/proc, over each run; median of runs. Unlike throughput it barely depends on what else "
            "runs on the machine, so its ratios are the steadier estimate of throughput on a dedicated "
            "core.",
            "",
        ]
        names = list(r.matrix)
        rows = []
        for c in sorted(next(iter(r.matrix.values()))):
            cpus = {n: r.matrix[n][c].cpu_us or float("nan") for n in names}
            row = [str(c), *[f"{cpus[n]:.0f}" for n in names]]
            if {"fle", "passthrough", "reference"} <= cpus.keys():
                row += [f"{cpus['passthrough'] / cpus['fle']:.2f}", f"{cpus['reference'] / cpus['fle']:.2f}"]
            rows.append(row)
        header = ["connections", *[f"{n} µs" for n in names], "pass-through / fle", "reference / fle"]
        lines += _table(header[: len(rows[0])], rows)

    if r.half_peak is not None:
        hp = r.half_peak
        lines += [
            "",
            "## Latency added by encryption at half of peak",
            "",
            f"Offered load: {hp.connections} connections, each waiting {hp.delay_ms} ms before every "
            f"request (wrk `delay()`), aiming at {hp.target_rps:,.0f} rps = half the FLE peak.",
            "",
        ]
        rows = [
            [n, f"{p.rps:,.0f}", f"{p.p50_ms:.2f}", f"{p.p99_ms:.2f}", str(p.errors)]
            for n, p in hp.points.items()
        ]
        lines += _table(["contender", "achieved rps", "p50 ms", "p99 ms", "errors"], rows)

    if r.scaling:
        lines += [
            "",
            "## Worker processes (`fle proxy --workers N`, SO_REUSEPORT)",
            "",
            f"FLE form posts at {r.scaling_connections} connections. wrk and the origin run on the same "
            "cores, so 2 workers on a 2-core machine cannot double: this shows that the second worker "
            "serves, not a clean scaling curve.",
            "",
        ]
        rows = [
            [
                str(n),
                f"{p.rps:,.0f}",
                f"{p.p50_ms:.2f}",
                f"{p.p99_ms:.2f}",
                f"{_ratio(p.rps, r.scaling[1].rps):.2f}x",
            ]
            for n, p in sorted(r.scaling.items())
        ]
        lines += _table(["workers", "rps", "p50 ms", "p99 ms", "vs 1 worker"], rows)

    if r.upload is not None or r.long_run is not None:
        lines += ["", "## Memory", ""]
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
    return "\n".join(lines).rstrip() + "\n"
