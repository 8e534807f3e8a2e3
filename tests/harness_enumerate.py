"""Enumerate the security harness's findings without stopping at the first one (the long run).

    PYTHONPATH=. python -m tests.harness_enumerate [--examples N] [--seed S] [--kinds form,json,...]

Starts the origins, a capture origin and `fle proxy --workers 1` like the test suite, draws N probes per
generator family, and prints: how many the proxy refused or forwarded, and every distinct finding
(generator label, origin, path read) with one minimal example each (the shortest body seen).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given

from tests.differential_strategies import HOSTILE, Probe
from tests.fixtures_origins import running_origins
from tests.harness_capture import harness_config_dir, long_run, proxy_to_capture, raw_exchange, replay
from tests.harness_check import leaks
from tests.security.test_security_harness import PROTECTION


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(sorted(HOSTILE)))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp_name, running_origins(Path(tmp_name)) as origins:
        tmp = Path(tmp_name)
        with proxy_to_capture(harness_config_dir(tmp / "cfg", key), tmp / "proxy.log") as (url, capture):
            total_findings = 0
            for kind in args.kinds.split(","):
                outcomes: Counter[str] = Counter()
                findings: dict[tuple[str, str], tuple[Probe, str]] = {}
                started = time.monotonic()

                @long_run(args.examples, args.seed)
                @given(probe=HOSTILE[kind])
                def run(probe: Probe) -> None:
                    capture.take()
                    status, _ = raw_exchange(url, probe.request())
                    forwarded = capture.take()
                    outcomes[str(status)] += 1  # noqa: B023 (run() is called in this iteration)
                    if status != 200:
                        if forwarded:
                            outcomes["REFUSED-BUT-FORWARDED"] += 1  # noqa: B023
                        return
                    parses = replay(origins, forwarded[0])
                    for leak in leaks(parses, probe.secrets, PROTECTION, json_body=probe.kind == "json"):
                        group = (f"{probe.label} | {probe.shape_of(leak.secret)}", leak.origin)
                        old = findings.get(group)  # noqa: B023
                        if old is None or len(probe.body) < len(old[0].body):
                            findings[group] = (probe, str(leak))  # noqa: B023

                run()
                elapsed = time.monotonic() - started
                print(
                    f"\n== {kind}: {args.examples} probes in {elapsed:.0f} s, proxy answered {dict(outcomes)}"
                )
                by_shape: dict[str, list[str]] = {}
                for (group, origin), (probe, leak) in sorted(findings.items()):
                    print(f"- [{group}] {leak}")
                    print(f"    Content-Type: {probe.content_type}\n    body: {probe.body!r}")
                    by_shape.setdefault(group, []).append(origin)
                print(f"-- {kind}: {len(by_shape)} distinct shapes")
                for group, names in sorted(by_shape.items()):
                    print(f"   {group}: {' '.join(sorted(names))}")
                total_findings += len(findings)
            print(f"\n{total_findings} distinct (shape, origin) findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
