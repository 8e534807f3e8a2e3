"""The proxy's CPU per request in this checkout against another checkout of it, runs interleaved.

`python -m benchmarks.compare_trees OTHER_TREE [SECONDS] [REPEATS]` (defaults 3 and 5): starts one origin,
the reference proxy, and a one-worker `fle proxy` from each tree (OTHER_TREE is e.g. a `git worktree` of
the commit before a change), then drives each in turn with wrk (16 connections): the 3-field form with one
protected field, and the same bytes under a content type no profile applies to (the pass-through path).
Both proxies run on the stdlib loop (so OTHER_TREE must have `fle proxy --loop`, as every commit since
issue 17 does): with the other tree on its default, uvloop where installed, the ratio compared two loops.
Runs are interleaved so that both trees see the same machine; it prints the median CPU µs per request of
each and the ratio this/other. This is how a change on the request path states its cost (e.g. issue 13's
hardening: `git worktree add /tmp/before <commit>` then `python -m benchmarks.compare_trees /tmp/before`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .cpu_per_request import print_medians, warm_then_interleaved
from .servers import FORM_TYPE, PASS_TYPE, running, write_config


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    other = Path(argv[0]).resolve()
    seconds = float(argv[1]) if len(argv) > 1 else 3.0
    repeats = int(argv[2]) if len(argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="fle-cmp-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        config = write_config(Path(tmp) / "config")
        this = servers.fle_proxy(origin, config, name="this")
        before = servers.fle_proxy(origin, config, name="other", root=other)  # both on asyncio
        reference = servers.reference(origin)
        targets = [
            ("this form", this, FORM_TYPE),
            ("other form", before, FORM_TYPE),
            ("this pass", this, PASS_TYPE),
            ("other pass", before, PASS_TYPE),
            ("reference", reference, PASS_TYPE),
        ]
        cpu, _ = warm_then_interleaved(targets, seconds, repeats)
        median, _ = print_medians(cpu)
        for path in ("form", "pass"):
            ratio = median[f"this {path}"] / median[f"other {path}"]
            print(f"{path}: this/other CPU per request = {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
