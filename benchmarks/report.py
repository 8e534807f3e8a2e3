"""Write docs/benchmarks-proxy.md: issue 17's headline table and verdicts first, then the run's conditions,
then every scenario's detail (half-peak latency, workers, decryptor, encoder, concurrency sweep, memory)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from .headline import Comparison
from .results import Results
from .rounds import Sample, Stat, cores, ratio_per_round, stat
from .targets import verdicts


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
        "cores available": str(cores()),
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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _range(s: Stat, fmt: str = ",.0f") -> str:
    return f"{s.median:{fmt}} ({s.low:{fmt}}-{s.high:{fmt}})"


def _other_share(samples: list[Sample]) -> Stat:
    return Stat.of([s.share(s.other_cpu_s) for s in samples])


def headline_table(h: Comparison) -> list[str]:
    reference = h.samples.get("reference")
    rows = []
    for name, label in h.labels.items():
        samples = h.samples[name]
        rps, cpu = stat(samples, "rps"), stat(samples, "proxy_us")
        if reference is not None and name != "reference":
            vs_rps = _range(ratio_per_round(samples, reference, "rps"), ".2f")
            vs_cpu = _range(ratio_per_round(samples, reference, "proxy_us", invert=True), ".2f")
        else:
            vs_rps = vs_cpu = "1"
        errors = sum(s.errors for s in samples)
        rows.append(
            [
                label,
                _range(rps),
                vs_rps,
                _range(cpu),
                vs_cpu,
                f"{stat(samples, 'p50_ms').median:.2f}",
                f"{stat(samples, 'p99_ms').median:.2f}",
                f"{rps.spread:.0%}",
                str(errors),
            ]
        )
    header = [
        "contender (`--workers 1`)",
        "rps, median (range)",
        "rps / reference",
        "proxy CPU µs / request",
        "CPU basis: reference CPU / this",
        "p50 ms",
        "p99 ms",
        "rps spread",
        "errors",
    ]
    return _table(header, rows)


def _headline_section(r: Results) -> list[str]:
    h = r.headline
    if h is None:
        return []
    lines = [
        "## Headline: every contender one process, side by side (issue 17)",
        "",
        f"wrk (1 thread, {h.connections} connections, {h.seconds:g} s per run) POSTs the 3-field form "
        "(`name`, `email`, `phone`; the example profile encrypts `phone`) to each contender in turn; "
        f"{h.rounds} interleaved round(s), each running every contender once (the order rotated by one each "
        "round). Figures are medians over the "
        "rounds with the range in brackets; ratios are taken round by round (contender and reference "
        "measured seconds apart), then the median. *rps spread* is the range of the rounds over their "
        "median. *Proxy CPU* is user + system time of the proxy's process (/proc) over the requests wrk "
        "completed: unlike rps it hardly depends on what else runs, so the CPU-basis ratio is the steadier "
        "one on a shared machine. *Pass-through* is the same `fle proxy` process sent the same bytes as "
        "`text/plain`, which no profile applies to. The reference is `benchmarks/reference_proxy.py`, a "
        "pooled aiohttp proxy that encrypts nothing, on the stdlib loop.",
        "",
    ]
    return lines + headline_table(h)


def _verdict_section(r: Results) -> list[str]:
    rows = [v.row() for v in verdicts(r)]
    lines = [
        "## Targets",
        "",
        "Computed from this run (`benchmarks/targets.py`), not written by hand. Issue 17's targets first; "
        "issue 7's checks that still stand after them.",
        "",
    ]
    return lines + _table(["issue", "target", "goal", "measured", "verdict"], rows)


def _run_section(r: Results) -> list[str]:
    lines = [
        "## Run",
        "",
        f"- command: `{r.command}`",
        f"- started {r.started}, finished {r.finished}",
        f"- fle-edge commit: {r.versions.get('fle-edge commit', '?')}",
        f"- load average (1, 5, 15 min) at start / end: {r.load_before} / {r.load_after}",
    ]
    if r.headline is not None:
        others = Stat.of([_other_share(s).median for s in r.headline.samples.values()])
        lines.append(
            f"- CPU used by processes outside the benchmark during the headline runs: {others.median:.0%} "
            f"of the {cores()} cores (median over contenders; {others.high:.0%} at most). A quiet run "
            "shows a few per cent; more means other work shared the cores and the rps columns are low."
        )
    if r.note:
        lines.append(f"- conditions: {r.note}")
    lines += ["", "### Machine and versions", ""]
    return lines + _table(["what", "value"], [[k, v] for k, v in {**machine(), **r.versions}.items()])


def _cpu_breakdown(h: Comparison) -> list[str]:
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
                f"{Stat.of([x.share(x.proxy_cpu_s) for x in s]).median:.0%}",
                f"{Stat.of([x.share(x.wrk_cpu_s) for x in s]).median:.0%}",
                f"{Stat.of([x.share(x.origin_cpu_s) for x in s]).median:.0%}",
                f"{_other_share(s).median:.0%}",
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
    return lines + _table(header, rows)


def _half_peak_section(r: Results) -> list[str]:
    hp = r.half_peak
    if hp is None:
        return []
    lines = [
        "",
        "## Latency added by encryption at half of peak",
        "",
        f"Offered load: {hp.connections} connections, each waiting {hp.delay_ms} ms before every request "
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
                _range(stat(samples, "rps")),
                f"{stat(samples, 'p50_ms').median:.2f}",
                _range(stat(samples, "p99_ms"), ".2f"),
                f"{stat(samples, 'proxy_us').median:.0f}",
                str(sum(s.errors for s in samples)),
            ]
        )
    lines += _table(["path", "achieved rps", "p50 ms", "p99 ms (range)", "proxy CPU µs", "errors"], rows)
    added = hp.added_p99()
    return [*lines, "", f"Added p99: {added.median:.2f} ms (rounds {added.low:.2f} to {added.high:.2f})."]


def _workers_section(r: Results) -> list[str]:
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
        vs = _range(ratio_per_round(samples, base, "rps"), ".2f") if base is not None else "-"
        rows.append(
            [
                name,
                _range(stat(samples, "rps")),
                vs,
                f"{proxy:.0f}",
                f"{wrk_us:.0f}",
                f"{origin:.0f}",
                f"{Stat.of([s.share(s.proxy_cpu_s) for s in samples]).median:.0%}",
                f"{Stat.of([s.share(s.wrk_cpu_s) for s in samples]).median:.0%}",
                f"{Stat.of([s.share(s.origin_cpu_s) for s in samples]).median:.0%}",
                f"{_other_share(samples).median:.0%}",
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
    return lines + _table(header, rows)


def _decrypt_section(r: Results) -> list[str]:
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
    return lines + _table(header, rows)


def _encoder_section(r: Results) -> list[str]:
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
        "edge_proxy.esdk µs",
        "aws-encryption-sdk µs",
        "primitives µs",
        "speed-up vs SDK",
        "fraction of limit",
    ]
    return lines + _table(header, rows)


def _matrix_section(r: Results, images: list[Path], out: Path) -> list[str]:
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
    lines += _table(["connections", *[f"{n}: rps / p50 ms / p99 ms / CPU per request" for n in names]], rows)
    for path in images:
        lines += ["", f"![{path.stem}]({os.path.relpath(path, out.parent)})"]
    return lines


def _memory_section(r: Results) -> list[str]:
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


def markdown(r: Results, images: list[Path], out: Path) -> str:
    lines = [
        "# Benchmarks: the edge proxy",
        "",
        "Generated by `python -m benchmarks` (`benchmarks/`); do not edit by hand, re-run the command under "
        "*Run*. Every contender runs in the same invocation, interleaved, on the same machine, so the "
        "ratios hold where absolute numbers move with machine load. docs/performance.md explains them.",
        "",
    ]
    lines += _headline_section(r)
    lines += ["", *_verdict_section(r), "", *_run_section(r)]
    if r.headline is not None:
        lines += _cpu_breakdown(r.headline)
    lines += _half_peak_section(r)
    lines += _workers_section(r)
    lines += _decrypt_section(r)
    lines += _encoder_section(r)
    lines += _matrix_section(r, images, out)
    lines += _memory_section(r)
    return "\n".join(lines).rstrip() + "\n"


def summary_rows(r: Results) -> list[list[str]]:
    """The verdict table as rows, for the console."""
    return [v.row() for v in verdicts(r)]


BEGIN_MARK = "<!-- begin: targets generated by python -m benchmarks -->"
END_MARK = "<!-- end: targets generated by python -m benchmarks -->"


def performance_block(r: Results, report_link: str) -> str:
    """The verdict table and the run it came from, for docs/performance.md."""
    lines = [
        BEGIN_MARK,
        "",
        f"From `{r.command}`, {r.started}, commit {r.versions.get('fle-edge commit', '?')}, load average "
        f"{r.load_before} at the start and {r.load_after} at the end"
        + (f"; {r.note}" if r.note else "")
        + f". The whole report, with the headline table behind the ratios: [{report_link}]({report_link}).",
        "",
        *_table(["issue", "target", "goal", "measured", "verdict"], summary_rows(r)),
        "",
        END_MARK,
    ]
    return "\n".join(lines)


def update_performance(path: Path, r: Results, out: Path) -> bool:
    """Replace the generated block of docs/performance.md (between the markers) with this run's verdicts;
    False, and the file untouched, when it has no such block (a report written elsewhere, e.g. a test's)."""
    if not path.exists():
        return False
    text = path.read_text()
    start, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        return False
    block = performance_block(r, os.path.relpath(out, path.parent))
    path.write_text(text[:start] + block + text[end + len(END_MARK) :])
    return True
