"""The decryptor on every core, briefly: `benchmarks.bench_decrypt --processes 1,2` as a subprocess.

Issue 17's decryptor target (2 processes on 2 cores >= 1.6x one core, file backend and SoftHSM with 2
sessions) is measured by bench_decrypt (docs/benchmarks.md has its method and longer runs). The full
report runs it once with a small batch and few rounds (about half a minute, SoftHSM and a moto server
included) so that the verdict table states a measured figure of the same run, not a copied one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from .servers import ROOT


@dataclass(frozen=True, slots=True)
class DecryptScaling:
    items: int
    rounds: int
    command: str
    # backend -> {"items_per_s@1", "items_per_s@2", "items_per_s@1core", "ratio_2_to_1core", ...}
    scaling: dict[str, dict[str, float]]


def run(items: int, rounds: int, timeout: float = 600) -> DecryptScaling:
    args = [
        "-m",
        "benchmarks.bench_decrypt",
        "--items",
        str(items),
        "--rounds",
        str(rounds),
        "--workers",
        "8",
        "--sessions",
        "2",
        "--processes",
        "1,2",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench_decrypt failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    start = done.stdout.find("\n{")  # the JSON document is the last thing printed
    document = json.loads(done.stdout[start + 1 :] if start >= 0 else done.stdout)
    return DecryptScaling(items, rounds, "python -m " + " ".join(args[1:]), document["scaling"])
