"""What one request costs the proxy, counted rather than timed: calls of ours, bytecodes, instructions.

`python -m benchmarks.cost_per_request [--tree DIR] [--path pass|form] [--requests N]
[--callgrind [--keep FILE] | --opcodes] [--top N] [--everything]` starts the benchmark origin and a
one-worker `fle proxy` from the tree at DIR (this checkout by default; any commit since issue 17, e.g. a
`git worktree` of the one before a change) exactly as compare_trees does, then sends N requests (default
2000) one after another on one keep-alive connection: the 3-field form under a content type no profile
applies to (`pass`, the pass-through path) or as a form (`form`).

By default the proxy runs under cProfile, twice (N/10 and N + N/10 requests), and the difference of the
two profiles divided by N is printed: calls per request of our code (and of all code), then the
functions of ours called most, with their calls and own time per request (own time is the profiler's,
inflated by it: compare two trees' figures from the same run, never with wall-clock ones). With
`--callgrind` the proxy runs under valgrind's callgrind, instrumentation switched on only after N/10
warm-up requests: the instructions executed per request (the interpreter and C extensions, in user
space), the dump kept with `--keep` for callgrind_annotate. With `--opcodes` a trace function counts the
bytecode instructions each Python function executes per request (the interpreter's cost per bytecode
varies: calls and allocations weigh more, so the instruction count is the figure to compare).
`--everything` lists functions not of ours too. All three are deterministic to within a fraction of a
per cent on any machine, however loaded, which wall-clock CPU time (compare_trees, ±5 % on two shared
cores) is not: they locate a cost that timing can only suspect. valgrind is a Debian package
(scripts/install.sh --test installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .servers import FORM, FORM_TYPE, PASS_TYPE, Servers, free_port, running, write_config

OURS = ("edge_proxy", "fields", "profiles", "esdk_format", "blindindex", "fle", "logsafe")


def _request(content_type: str) -> bytes:
    head = (
        f"POST /submit HTTP/1.1\r\nHost: edge\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(FORM)}\r\n\r\n"
    )
    return head.encode() + FORM


def _drive(url: str, request: bytes, count: int) -> None:
    """`count` requests, each sent when the previous answer is in, on one connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as s:
        for _ in range(count):
            s.sendall(request)
            data = b""
            while True:
                piece = s.recv(65536)
                if not piece:  # the proxy closed the connection: no answer will come
                    raise RuntimeError(f"the proxy closed the connection after {data[:200]!r}")
                data += piece
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = re.search(rb"(?i)content-length: *(\d+)", head)
                    assert length is not None and head.startswith(b"HTTP/1.1 200"), head
                    if len(body) >= int(length.group(1)):
                        break


def _proxy_args(origin: str, config: Path, port: int) -> list[str]:
    return [
        "-m", "fle", "--log-level", "WARNING", "proxy", "--config", str(config), "--origin", origin,
        "--listen", f"127.0.0.1:{port}", "--workers", "1", "--admin", "off", "--access-log", "off",
        "--loop", "asyncio",
    ]  # fmt: skip


def _start(
    servers: Servers, tree: Path, prefix: list[str], args: list[str], name: str
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["PYTHONHASHSEED"] = "0"  # the same string hashes, so the same dict and set probes, run after run
    with (servers.workdir / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [*prefix, sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tree
        )
    port = int(args[args.index("--listen") + 1].rsplit(":", 1)[1])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((servers.workdir / f"{name}.log").read_text()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    _stop(process)  # never left running behind a failed start
    raise RuntimeError(f"{name} did not listen within 300 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _profiled(
    servers: Servers, tree: Path, origin: str, config: Path, request: bytes, count: int
) -> pstats.Stats:
    out = servers.workdir / f"profile-{count}.out"
    port = free_port()
    process = _start(
        servers, tree, [], ["-m", "cProfile", "-o", str(out), *_proxy_args(origin, config, port)], "cprofile"
    )
    try:
        _drive(f"http://127.0.0.1:{port}", request, count)
    finally:
        _stop(process)
    return pstats.Stats(str(out))


# Run in the proxy's process (`python -c`, so that it needs nothing of this checkout): count the bytecode
# instructions each function executes, from SIGUSR1 to SIGUSR2, then write them as JSON to the file named.
_OPCODES = """
import collections, json, os, runpy, signal, sys, threading
counts = collections.Counter()
on = False
def local(frame, event, arg):
    if event == "opcode" and on:
        code = frame.f_code
        counts[code.co_filename, code.co_firstlineno, code.co_name] += 1
    return local
def tracer(frame, event, arg):
    frame.f_trace_opcodes = True
    return local
def start(*_):
    global on
    counts.clear(); on = True
def stop(*_):
    global on
    on = False
    with open(OUT + ".part", "w") as out:
        json.dump([[*k, n] for k, n in counts.items()], out)
    os.replace(OUT + ".part", OUT)  # whole or absent: the reader waits for the file to appear
OUT = sys.argv.pop(1)
signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)
sys.settrace(tracer)
threading.settrace(tracer)
sys.argv = ["fle", *sys.argv[2:]]
runpy.run_module("fle", run_name="__main__", alter_sys=True)
"""


def opcodes(
    tree: Path,
    origin: str,
    config: Path,
    servers: Servers,
    request: bytes,
    n: int,
    top: int,
    everything: bool,
) -> None:
    out = servers.workdir / "opcodes.json"
    port = free_port()
    args = _proxy_args(origin, config, port)
    process = _start(servers, tree, [], ["-c", _OPCODES, str(out), *args[1:]], "opcodes")
    url = f"http://127.0.0.1:{port}"
    try:
        _drive(url, request, max(n // 10, 1))
        process.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        _drive(url, request, n)
        process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not out.exists():
            if time.monotonic() > deadline:
                raise SystemExit("no opcode counts written")
            time.sleep(0.2)
    finally:
        _stop(process)
    rows = json.loads(out.read_text())
    total = sum(row[3] for row in rows) / n
    listed = []
    for filename, line, name, count in rows:
        module = _ours(filename, tree)
        if module is not None or everything:
            listed.append((count / n, module is not None, module or filename, line, name))
    ours = sum(r[0] for r in listed if r[1])
    print(f"bytecode instructions per request: {ours:.0f} of ours, {total:.0f} in all")
    for count, _, module, line, name in sorted(listed, key=lambda r: -r[0])[:top]:
        print(f"{count:8.1f}  {module}:{line} {name}")


def _ours(filename: str, tree: Path) -> str | None:
    path = Path(filename)
    if not path.is_absolute() or not path.is_relative_to(tree):
        return None
    relative = path.relative_to(tree)
    return relative.as_posix() if relative.parts[0] in OURS else None


def profile(
    tree: Path,
    origin: str,
    config: Path,
    servers: Servers,
    request: bytes,
    n: int,
    top: int,
    everything: bool,
) -> None:
    warm = max(n // 10, 1)
    stats = [_profiled(servers, tree, origin, config, request, count).stats for count in (warm, warm + n)]  # type: ignore[attr-defined]
    ours: dict[str, tuple[float, float]] = {}
    calls_ours = calls_all = 0.0
    for key, (_, ncalls, tottime, _, _) in stats[1].items():
        before = stats[0].get(key, (0, 0, 0.0, 0, 0))
        calls, own = (ncalls - before[1]) / n, (tottime - before[2]) / n
        calls_all += calls
        module = _ours(key[0], tree)
        if module is not None and calls > 0:
            calls_ours += calls
            ours[f"{module}:{key[1]} {key[2]}"] = (calls, own)
        elif everything and abs(calls) > 0.005:
            ours[f"{Path(key[0]).name}:{key[1]} {key[2]}"] = (calls, own)
    print(f"calls per request: {calls_ours:.1f} of ours, {calls_all:.1f} in all")
    print(f"{'calls':>6} {'own µs':>7}  function of ours")
    for name, (calls, own) in sorted(ours.items(), key=lambda item: -item[1][0])[:top]:
        print(f"{calls:6.2f} {own * 1e6:7.2f}  {name}")


def _callgrind_control(*args: str | int) -> None:
    """Tell the proxy under callgrind to zero, switch on or dump its counts (bounded: a wedged valgrind)."""
    subprocess.run(["callgrind_control", *map(str, args)], check=True, capture_output=True, timeout=60)


def callgrind(
    tree: Path, origin: str, config: Path, servers: Servers, request: bytes, n: int, keep: Path | None
) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    out = servers.workdir / "callgrind.out"
    port = free_port()
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    process = _start(servers, tree, prefix, _proxy_args(origin, config, port), "callgrind")
    url = f"http://127.0.0.1:{port}"
    try:
        _drive(url, request, max(n // 10, 1))
        _callgrind_control("-z", process.pid)
        _callgrind_control("-i", "on", process.pid)
        _drive(url, request, n)
        _callgrind_control("-d", process.pid)
    finally:
        _stop(process)
    totals = []
    for dump in servers.workdir.glob("callgrind.out*"):
        text = dump.read_text(errors="replace")
        if "Trigger: dump" in text:  # the one callgrind_control -d wrote
            found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if found:
                totals.append(int(found.group(1)))
                if keep is not None:
                    shutil.copy(dump, keep)
    if len(totals) != 1:
        raise SystemExit(f"expected one dump of the measured requests, found {len(totals)}")
    print(f"instructions per request: {totals[0] / n:,.0f} ({totals[0]:,} for {n} requests)")


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cost_per_request", description=__doc__)
    p.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    p.add_argument("--path", choices=["pass", "form"], default="pass")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--callgrind", action="store_true")
    p.add_argument("--opcodes", action="store_true", help="bytecode instructions per function (sys.settrace)")
    p.add_argument("--keep", type=Path, help="with --callgrind: copy the dump there (for callgrind_annotate)")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--everything", action="store_true", help="list every function called, not only ours")
    args = p.parse_args()
    tree = args.tree.resolve()
    request = _request(PASS_TYPE if args.path == "pass" else FORM_TYPE)
    with tempfile.TemporaryDirectory(prefix="fle-cost-") as tmp, running(Path(tmp)) as servers:
        origin = servers.origin().url
        config = write_config(Path(tmp) / "config")
        if args.opcodes:
            opcodes(tree, origin, config, servers, request, args.requests, args.top, args.everything)
        elif args.callgrind:
            callgrind(tree, origin, config, servers, request, args.requests, args.keep)
        else:
            profile(tree, origin, config, servers, request, args.requests, args.top, args.everything)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
