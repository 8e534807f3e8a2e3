"""The encrypting step alone, this checkout against another, hot, in alternating processes.

`python -m benchmarks.encrypt_step OTHER_TREE [ROUNDS] [CALLS]` (defaults 8 and 4000): in a fresh process
per tree and round, alternately, loads the example config (`phone` protected) and times `decide` then
`rewrite_body` on the 3-field sample form, thread CPU per call (the median of CALLS calls), twice: as is,
and with the RSA-OAEP operation replaced by a stub returning a real wrapped key (the RSA call's cost, 22-32 µs
here, moves more between runs than everything else the step does together). Prints each round and the
medians, this/other. The code that runs in each tree is passed with `-c`, so OTHER_TREE (e.g. an unpacked
`git archive COMMIT`) needs no copy of this file; it must have `edge_proxy.pipeline.bodies.rewrite_body`
and `CompiledConfig` (issue 22 on).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_STEP = r"""
import os, statistics, sys, tempfile, time
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import rsa
from edge_proxy.encrypting import esdk
from edge_proxy.pipeline.bodies import rewrite_body
from edge_proxy.pipeline.compiled import CompiledConfig
from fields.limits import Limits
from keystore.tooling import public_pem
from profiles import load_config_dir
from profiles.examples import write_example_config
from profiles.select import decide

FORM = b"name=Jane+Doe&email=jane.doe%40example.com&phone=404-555-0150"
TYPE = "application/x-www-form-urlencoded"
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
with tempfile.TemporaryDirectory() as d:
    write_example_config(Path(d), public_pem(key.public_key()))
    config = load_config_dir(d).only_config()
compiled = CompiledConfig(config)
if sys.argv[2] == "stub":
    class Wrapped:  # the RSA operation done once: every call returns a real wrapped key of the right size
        def __init__(self, public):
            self.wrapped = public.encrypt(bytes(32), esdk._OAEP)
        def encrypt(self, data, padding):
            return self.wrapped
    for field_key in compiled.encryptor._keys.values():
        object.__setattr__(field_key, "public_key", Wrapped(field_key.public_key))
limits = Limits()

def step():
    return rewrite_body(decide(config, TYPE, []), FORM, TYPE, compiled, limits)

step()
times = []
for _ in range(int(sys.argv[1])):
    start = time.thread_time_ns()
    step()
    times.append(time.thread_time_ns() - start)
print(statistics.median(times) / 1e3)
"""


def timed(tree: Path, calls: int, rsa: str) -> float:
    """Median thread CPU µs of one step in a fresh process running `tree`'s code."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, "-c", _STEP, str(calls), rsa],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    other = Path(argv[0]).resolve()
    rounds = int(argv[1]) if len(argv) > 1 else 8
    calls = int(argv[2]) if len(argv) > 2 else 4000
    for rsa in ("stub", "real"):
        this_runs: list[float] = []
        other_runs: list[float] = []
        for _ in range(rounds):
            other_runs.append(timed(other, calls, rsa))
            this_runs.append(timed(ROOT, calls, rsa))
        label = "without the RSA operation" if rsa == "stub" else "with the RSA operation"
        this, before = statistics.median(this_runs), statistics.median(other_runs)
        print(f"{label}: µs per step, this {this:.2f} (runs {', '.join(f'{x:.1f}' for x in this_runs)})")
        print(f"{'':{len(label) + 2}}other {before:.2f} (runs {', '.join(f'{x:.1f}' for x in other_runs)})")
        print(f"{'':{len(label) + 2}}this/other {this / before:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
