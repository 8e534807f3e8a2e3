"""The header-mutation harness's long run: N generated request heads, every disagreement listed, no stop.

    PYTHONPATH=. python -m tests.harness_headers_enumerate [--examples N] [--seed S] [--max-seconds T]

Starts the default-reading origins, a capture origin and `fle proxy --workers 1` as the test suite does
(tests/security/test_header_harness.py), and prints how the proxy answered, and each distinct disagreement
(its text with the secrets and lengths masked) with the shortest probe that showed it.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given

from tests.differential_headers import (
    HeaderProbe,
    as_text,
    exchange,
    header_config_dir,
    header_probes,
    judge,
    replay_verbatim,
)
from tests.fixtures_default_origins import running_default_origins
from tests.harness_capture import long_run, proxy_to_capture
from tests.security.test_security_harness import PROTECTION


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp_name, running_default_origins(Path(tmp_name)) as origins:
        tmp = Path(tmp_name)
        outcomes: Counter[str] = Counter()
        findings: dict[str, HeaderProbe] = {}
        with proxy_to_capture(header_config_dir(tmp / "cfg", key), tmp / "proxy.log") as (url, capture):
            started = time.monotonic()

            @long_run(args.examples, args.seed)
            @given(probe=header_probes())
            def run(probe: HeaderProbe) -> None:
                if time.monotonic() - started > args.max_seconds:
                    outcomes["skipped (time)"] += 1
                    return
                capture.take()
                status, answer = exchange(url, probe.request())
                forwarded = capture.take()
                outcomes[str(status)] += 1
                if status == 200:
                    outcomes[f"200 {probe.edge_format() or 'forward'}"] += 1
                else:
                    outcomes[f"refused {answer[:60].decode('latin-1')}"] += 1
                readings = replay_verbatim(origins, forwarded[0]) if status == 200 and forwarded else []
                for text in judge(probe, status, forwarded, readings, PROTECTION):
                    shape = re.sub(
                        r"Zq\d\dKw8secret", "S", re.sub(r"\d+ body bytes, forwarded \d+", "N", text)
                    )
                    old = findings.get(shape)
                    if old is None or len(old.request()) > len(probe.request()):
                        findings[shape] = probe

            run()
        elapsed = time.monotonic() - started
        print(f"{args.examples} probes (seed {args.seed}) in {elapsed:.0f} s")
        for outcome, count in sorted(outcomes.items()):
            print(f"  {count:6d}  {outcome}")
        print(f"{len(findings)} distinct disagreements")
        for shape, probe in sorted(findings.items()):
            print(f"- {shape}\n  [{probe.label}]\n" + "    " + as_text(probe).replace("\r\n", "\n    "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
