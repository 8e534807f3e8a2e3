"""System calls per request of the proxy and of the origin, encrypting path against pass-through.

`python -m benchmarks.syscalls [REQUESTS] [CONNECTIONS]` (defaults 3000 and 32): starts the origin and a
one-worker proxy on loopback, then for each path attaches `strace -c -f` to both processes for exactly
REQUESTS requests of the 3-field form (wrk's request cap) and prints each system call's count per request.
Needs strace (Debian: apt-get install strace) and ptrace rights. Says whether the paths differ on the wire
(writes and reads per request) or in how often each process waits (`epoll_wait` per request): a process
that handles more requests per wake-up makes fewer of them (docs/performance.md, "Issue 27, second pass").
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import wrk
from .servers import FORM, FORM_TYPE, PASS_TYPE, Server, running, write_config

_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$")


def counts(report: Path) -> dict[str, int]:
    """Calls per system call from an `strace -c` report."""
    found: dict[str, int] = {}
    for line in report.read_text().splitlines():
        m = _ROW.match(line)
        if m and m.group(2) != "total":
            found[m.group(2)] = int(m.group(1))
    return found


def traced(
    servers: list[Server], directory: Path, url: str, content_type: str, requests: int, conns: int
) -> tuple[int, list[dict[str, int]]]:
    """Per server, its system calls over exactly `requests` requests of `content_type` to `url`."""
    reports = [directory / f"{s.name}.strace" for s in servers]
    tracers = [
        subprocess.Popen(["strace", "-c", "-f", "-p", str(s.pid), "-o", str(r)], stderr=subprocess.DEVNULL)
        for s, r in zip(servers, reports, strict=True)
    ]
    time.sleep(1.0)  # attached to every thread before the first request
    try:
        result = wrk.run(
            url, body=FORM, content_type=content_type, connections=conns, seconds=120, max_requests=requests
        )
    finally:
        for tracer in tracers:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
    return result.requests, [counts(r) for r in reports]


def main(argv: list[str]) -> int:
    if not shutil.which("strace"):
        print("needs strace (Debian: apt-get install strace)", file=sys.stderr)
        return 2
    requests = int(argv[0]) if argv else 3000
    conns = int(argv[1]) if len(argv) > 1 else 32
    with tempfile.TemporaryDirectory(prefix="fle-sys-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin()
        proxy = servers.fle_proxy(origin, write_config(Path(tmp) / "config"))
        url = proxy.url + "/submit"
        for content_type in (FORM_TYPE, PASS_TYPE):  # warm: the origin pool opened, the code paths run
            wrk.run(url, body=FORM, content_type=content_type, connections=conns, seconds=1)
        rows: dict[str, dict[str, float]] = {}
        for path, content_type in (("encrypting", FORM_TYPE), ("pass-through", PASS_TYPE)):
            done, (of_proxy, of_origin) = traced(
                [proxy, origin], Path(tmp), url, content_type, requests, conns
            )
            for who, found in (("proxy", of_proxy), ("origin", of_origin)):
                for call, n in found.items():
                    rows.setdefault(f"{who} {call}", {})[path] = n / done
        print(f"system calls per request ({requests} requests, {conns} connections)")
        print(f"{'process and call':28s} {'encrypting':>11s} {'pass-through':>13s}")
        for name in sorted(rows, key=lambda k: (k.split()[0], -max(rows[k].values()))):
            enc, plain = rows[name].get("encrypting", 0.0), rows[name].get("pass-through", 0.0)
            if max(enc, plain) >= 0.05:
                print(f"{name:28s} {enc:11.2f} {plain:13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
