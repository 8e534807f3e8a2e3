"""The report's plots (matplotlib, Agg): throughput and latency versus concurrency, RSS over the long run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .results import Results


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

    if r.matrix:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name, points in r.matrix.items():
            cs = sorted(points)
            ax.plot(
                cs,
                [points[c].rps for c in cs],
                marker="o",
                label=labels.get(name, name),
                color=colors.get(name),
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
