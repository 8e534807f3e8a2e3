"""Run wrk with `post.lua` and read back its summary line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("post.lua")


class WrkError(Exception):
    """wrk is missing, failed, or printed no summary."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: int  # connect, read, write, timeout, and non-2xx/3xx responses
    cpu_s: float = 0.0  # wrk's own user + system CPU time over the run (the load generator's cost)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def version() -> str:
    found = shutil.which("wrk")
    if not found:
        raise WrkError("wrk is not installed (Debian: apt-get install wrk)")
    out = subprocess.run([found, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def _exited_cpu_seconds(pid: int) -> float:
    """User + system CPU of a child that has exited but is not reaped yet (a zombie keeps its /proc/PID/stat,
    with the times of all its threads), so the load generator's whole cost is read, not a sample of it."""
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # wait for the exit, leave the zombie in place
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # already reaped (the timeout's kill raced the exit): no figure rather than a wrong one
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _wrk(command: list[str], env: dict[str, str], timeout: float) -> tuple[str, str, int, float]:
    """Run wrk; end it early (SIGINT, which still prints the summary) once the script reports its cap.
    Returns stdout, stderr, the exit code and wrk's CPU seconds."""
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        lines = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if line.startswith("BENCH_REACHED"):
                    process.send_signal(signal.SIGINT)
            cpu = _exited_cpu_seconds(process.pid)
            code = process.wait()
        finally:
            timer.cancel()
        err.seek(0)
        return "".join(lines), err.read().decode(errors="replace"), code, cpu


def run(
    url: str,
    *,
    body: bytes,
    content_type: str,
    connections: int,
    seconds: float,
    delay_ms: int = 0,
    max_requests: int = 0,
    bodies: Path | None = None,
    header: tuple[str, str] | None = None,
) -> WrkResult:
    """One wrk run with one thread (the proxies under test need the other cores). `bodies`: a file of
    bodies, one per line, sent in turn instead of `body`; `header`: one more request header (name, value)."""
    if not shutil.which("wrk"):
        raise WrkError("wrk is not installed (Debian: apt-get install wrk)")
    env = dict(
        os.environ,
        BENCH_BODY=body.decode("latin-1"),
        BENCH_CONTENT_TYPE=content_type,
        BENCH_DELAY_MS=str(delay_ms),
        BENCH_MAX_REQUESTS=str(max_requests),
        BENCH_BODIES=str(bodies) if bodies is not None else "",
        BENCH_HEADER=f"{header[0]}: {header[1]}" if header is not None else "",
    )
    duration = max(1, round(seconds))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    stdout, stderr, code, cpu = _wrk(command, env, duration + 30)
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise WrkError(f"wrk printed no summary (exit {code}): {stderr.strip()[:500]}")
    errors = sum(v for k, v in data.items() if k.startswith("errors_"))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1e3,
        p90_ms=data["p90_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        mean_ms=data["mean_us"] / 1e3,
        max_ms=data["max_us"] / 1e3,
        errors=errors,
        cpu_s=cpu,
    )
