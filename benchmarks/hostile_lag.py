"""`python -m benchmarks.hostile_lag`: the worst event-loop lag while hostile requests go through a proxy.

Starts `fle proxy --workers 1` (a real process, with the differential corpus's config) in front of a
loopback origin that reads and answers every body, sends the hostile corpus of testkit/corpus.py
(form, multipart, JSON and framing cases) and the pathological inputs of tests/security/test_linear_time.py at
body size (up to the 1 MB limit, also gzip-compressed), each on its own connection, one after the
other, and reads `fle_proxy_event_loop_lag_max_seconds` from the admin /metrics after each group.
Prints, per group, the worst lag and the slowest request; `--skip` leaves out groups by name prefix
(a group that still has a quadratic reader would hold the worker for minutes at 1 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from testkit.corpus import (
    FORM_CASES,
    FRAMING_CASES,
    JSON_CASES,
    MULTIPART_CASES,
    corpus_config_dir,
    raw_request,
)
from testkit.serving import serving

ROOT = Path(__file__).resolve().parent.parent
LISTEN = re.compile(rb"proxy listening on http://127\.0\.0\.1:(\d+)")
ADMIN = re.compile(rb"admin listening on (http://127\.0\.0\.1:\d+)")
LAG = re.compile(rb"^fle_proxy_event_loop_lag_max_seconds ([0-9.e+-]+)$", re.M)
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTI = "multipart/form-data; boundary=B0undary"

Request = tuple[str, bytes]  # (id, the raw HTTP request)


def corpus_config(directory: Path) -> Path:
    """The differential corpus's config (testkit.corpus), under a key made for this run."""
    return corpus_config_dir(directory, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def post(content_type: str, body: bytes, *headers: bytes) -> bytes:
    head = [b"POST /submit HTTP/1.1", b"Host: origin.example", b"Connection: close"]
    head += [b"Content-Type: " + content_type.encode(), *headers, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def part(name: bytes, content: bytes = b"v", extra: bytes = b"") -> bytes:
    return (
        b'--B0undary\r\nContent-Disposition: form-data; name="'
        + name
        + b'"'
        + extra
        + b"\r\n\r\n"
        + content
        + b"\r\n"
    )


def pathological(size: int) -> Iterator[tuple[str, str, bytes]]:
    """(group/id, content type, body) at about `size` bytes: the linear-time test's inputs at full size."""
    n = size // 2
    yield "json/quote-backslash", JSON, b'"\\' * n
    yield "json/escaped-quotes", JSON, b'["' + b'\\"' * (n - 4) + b'"]'
    yield "json/empty-arrays", JSON, b"[" + b"[]," * (size // 3 - 2) + b"[]]"
    yield "json/deep-but-allowed", JSON, b"[" + b",".join([b"[" * 63 + b"]" * 63] * (size // 130)) + b"]"
    yield "json/many-keys", JSON, b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(size // 16)) + b"}"
    yield "json/whitespace", JSON, b'{"card":' + b" " * (size - 40) + b'{"number":"1"}}'
    yield "form/percent-run", FORM, b"a=" + b"%" * (size - 2)
    yield "form/many-fields", FORM, b"&".join(b"f%d=v" % i for i in range(size // 10))
    yield "form/semicolon-at-end", FORM, b"a=" + b"b" * (size - 3) + b";"
    yield "names/bracket-pairs", FORM, b"[]" * (n - 2) + b"x=1"
    yield "names/encoded-words", FORM, b"%3D%3Futf-8%3Fq%3Fa%3F%3D" * (size // 26) + b"=1"
    yield "multipart/many-parts", MULTI, b"".join(part(b"f%d" % i) for i in range(990)) + b"--B0undary--\r\n"
    yield "multipart/near-miss", MULTI, part(b"a", b"\r\n--B0undar" * (size // 12 - 10)) + b"--B0undary--\r\n"
    yield (
        "multipart-header/whitespace",
        MULTI,
        b"".join(part(b"f%d" % i, extra=b" " * 15_000 + b"x") for i in range(size // 15_100))
        + b"--B0undary--\r\n",
    )


def requests(size: int) -> Iterator[Request]:
    for case in [*FORM_CASES, *MULTIPART_CASES, *JSON_CASES]:
        yield f"corpus/{case.id}", raw_request(case)
    for name, raw, _ in FRAMING_CASES:
        yield f"corpus-framing/{name}", raw
    for name, content_type, body in pathological(size):
        yield name, post(content_type, body)
        if name.startswith(("json/", "form/", "names/")):
            compressed = gzip.compress(body, compresslevel=9, mtime=0)
            yield name + "+gzip", post(content_type, compressed, b"Content-Encoding: gzip")


async def exchange(port: int, raw: bytes, timeout: float) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(timeout):
            await reader.read()
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
    return time.perf_counter() - started


async def worst_lag(admin: str) -> float:
    reader, writer = await asyncio.open_connection(*admin.removeprefix("http://").split(":"))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    text = await reader.read()
    writer.close()
    match = LAG.search(text)
    return float(match.group(1)) if match else float("nan")


async def origin(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


async def run(size: int, skip: tuple[str, ...], timeout: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = corpus_config(Path(tmp) / "cfg")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", origin)
        async with serving(app) as origin_url:
            err = Path(tmp) / "proxy.err"
            with err.open("wb") as log:
                args = ["proxy", "--workers", "1", "--config", str(config), "--origin", origin_url]
                args += ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--access-log", "off"]
                env = {**os.environ, "PYTHONPATH": str(ROOT)}
                process = subprocess.Popen(
                    [sys.executable, "-m", "fle", *args], stderr=log, cwd=ROOT, env=env
                )
            try:
                for _ in range(300):
                    port, admin = LISTEN.search(err.read_bytes()), ADMIN.search(err.read_bytes())
                    if port and admin:
                        break
                    await asyncio.sleep(0.05)
                assert port and admin, err.read_text()
                await run_groups(
                    int(port.group(1)), admin.group(1).decode(), process.pid, size, skip, timeout
                )
            finally:
                process.terminate()
                process.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` (Linux /proc; 10 ms resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_groups(
    port: int, admin: str, pid: int, size: int, skip: tuple[str, ...], timeout: float
) -> None:
    groups: dict[str, list[Request]] = {}
    for name, raw in requests(size):
        if not name.startswith(skip):
            groups.setdefault(name.split("/")[0], []).append((name, raw))
    print(f"{'group':<16} {'requests':>8} {'slowest request (wall, proxy CPU)':>50} {'worst lag so far':>17}")
    for group, items in groups.items():
        slowest = ("", 0.0, 0.0)
        for name, raw in items:
            cpu = cpu_seconds(pid)
            seconds = await exchange(port, raw, timeout)
            slowest = max(slowest, (name, seconds, cpu_seconds(pid) - cpu), key=lambda x: x[1])
        lag = await worst_lag(admin)
        name, wall, cpu = slowest
        print(
            f"{group:<16} {len(items):>8} {name[-30:]:>30} {wall:7.3f} s {cpu:7.2f} s {lag:>15.3f} s",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hostile_lag", description=__doc__)
    p.add_argument("--size", type=int, default=1_000_000, help="bytes of each pathological body")
    p.add_argument("--skip", default="", help="comma-separated request-name prefixes to leave out")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one answer")
    args = p.parse_args()
    skip = tuple(s for s in args.skip.split(",") if s)
    asyncio.run(run(args.size, skip, args.timeout))


if __name__ == "__main__":
    main()
