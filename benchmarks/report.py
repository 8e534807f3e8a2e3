"""Write docs/benchmarks-proxy.md: issue 17's headline table and the verdicts (issues 27, 17, 7) first, then
the run's conditions, then every scenario's detail (half-peak latency, the lone request, workers, decryptor,
encoder, concurrency sweep, memory)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from . import report_sections as sections
from .headline import Comparison
from .report_sections import other_share, span, table
from .results import Results
from .rounds import Stat, cores, ratio_per_round, stat
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


def headline_table(h: Comparison) -> list[str]:
    reference = h.samples.get("reference")
    rows = []
    for name, label in h.labels.items():
        samples = h.samples[name]
        rps, cpu = stat(samples, "rps"), stat(samples, "proxy_us")
        if reference is not None and name != "reference":
            vs_rps = span(ratio_per_round(samples, reference, "rps"), ".2f")
            vs_cpu = span(ratio_per_round(samples, reference, "proxy_us", invert=True), ".2f")
        else:
            vs_rps = vs_cpu = "1"
        errors = sum(s.errors for s in samples)
        rows.append(
            [
                label,
                span(rps),
                vs_rps,
                span(cpu),
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
    return table(header, rows)


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
        "Computed from this run (`benchmarks/targets.py`), not written by hand. Issue 27's targets first "
        "(a target whose figures this run did not take says *not measured*), then issue 17's that issue 27 "
        "does not restate (its p99 at half of peak is now reported, not targeted), then issue 7's checks "
        "that still stand.",
        "",
    ]
    return lines + table(["issue", "target", "goal", "measured", "verdict"], rows)


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
        others = Stat.of([other_share(s).median for s in r.headline.samples.values()])
        lines.append(
            f"- CPU used by processes outside the benchmark during the headline runs: {others.median:.0%} "
            f"of the {cores()} cores (median over contenders; {others.high:.0%} at most). A quiet run "
            "shows a few per cent; more means other work shared the cores and the rps columns are low."
        )
    if r.note:
        lines.append(f"- conditions: {r.note}")
    lines += ["", "### Machine and versions", ""]
    return lines + table(["what", "value"], [[k, v] for k, v in {**machine(), **r.versions}.items()])


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
        lines += sections.cpu_breakdown(r.headline)
    lines += sections.half_peak_section(r)
    lines += sections.lone_section(r)
    lines += sections.workers_section(r)
    lines += sections.decrypt_section(r)
    lines += sections.encoder_section(r)
    lines += sections.matrix_section(r, images, out)
    lines += sections.memory_section(r)
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
        *table(["issue", "target", "goal", "measured", "verdict"], summary_rows(r)),
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
