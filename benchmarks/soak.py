"""Soak: many requests of mixed valid and hostile input through `fle proxy`, run as a real process, to the
canary origin (tests/fixtures_proxy.py), which records a violation whenever a protected plaintext reaches
it; the proxy's RSS and open file descriptors are sampled from /proc/<pid>/ all along.

Run:  python3 -m benchmarks.soak --requests 100000          (loopback only; stops itself)
      python3 -m benchmarks.soak --requests 3000 --json     (what tests/e2e/test_soak.py runs in CI)

Bounded in count (--requests) and time (--max-seconds: the run stops early and says so). The canary
runs in this process, the proxy in its own. Exit status 1 if any check in `Result.problems` fails.
The checks and bounds are described in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict

from edge_proxy import start_site
from testkit.canary import Canary, canary_app
from testkit.cloudfront import FORM, cf_config, cf_profile, cf_public_key, write_config_dir

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 0.1  # the first tenth of the requests (at least 1,000) warms caches, pools and the allocator
RSS_GROWTH_BOUND = 24 * 1024 * 1024  # bytes the RSS may grow from the end of warm-up to the end
FD_GROWTH_BOUND = 8  # open descriptors the proxy may hold at the end beyond those after warm-up
MULTIPART = "multipart/form-data"


# --- the request mix ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes | None
    expect: frozenset[int]  # statuses that are a right answer to this input


def _req(path: str, content_type: str | None, body: bytes | None, *expect: int, **extra: str) -> Req:
    headers: CIMultiDict[str] = CIMultiDict()
    if content_type:
        headers.add("Content-Type", content_type)
    for name, value in extra.items():
        headers.add(name.replace("_", "-"), value)
    return Req("POST" if body is not None else "GET", path, headers, body, frozenset(expect))


def _multipart(boundary: str, parts: list[tuple[str, str]]) -> bytes:
    out = b""
    for disposition, value in parts:
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n".encode()
    return out + f"--{boundary}--\r\n".encode()


def _cases(s: str) -> dict[str, Req]:
    """Every kind of input, each carrying the secret `s` where a parser could find a protected field."""
    b = "SoakBoundary7MA4YWxkTrZu0gW"
    two_types = _req("/form", FORM, f"phone={s}".encode(), 400)
    two_types.headers.add("Content-Type", "text/plain")
    return {
        # valid
        "form": _req("/form", FORM, f"name=Jane&phone={s}&email={s}%40example.org".encode(), 200),
        "json": _req("/api", "application/json", json.dumps({"card": {"number": s}, "x": 1}).encode(), 200),
        "multipart": _req(
            "/upload", f"{MULTIPART}; boundary={b}", _multipart(b, [('form-data; name="card"', s)]), 200
        ),
        "forward": _req("/plain", "text/plain", b"nothing protected here", 200),
        "get": _req("/page?q=1", None, None, 200),
        # hostile
        "form-repeated": _req("/form", FORM, f"phone={s}&phone={s}&PHONE=x".encode(), 200),
        "form-percent-name": _req("/form", FORM, f"ph%6Fne={s}".encode(), 200, 400),
        "form-semicolon": _req("/form", FORM, f"phone={s};x=1".encode(), 400),
        "form-long-value": _req("/form", FORM, f"phone={s}{'9' * 20000}".encode(), 400),
        "form-too-many": _req("/form", FORM, "&".join([f"phone={s}"] * 11).encode(), 400),
        "form-nul-bad-utf8": _req("/form", FORM, f"phone={s}".encode() + b"\x00\xff\xfe&n=\x80", 200, 400),
        "form-gzip": _req(
            "/form", FORM, gzip.compress(f"phone={s}".encode()), 200, 400, 415, Content_Encoding="gzip"
        ),
        "form-oversize": _req("/form", FORM, b"a=" + b"x" * (1024 * 1024) + f"&phone={s}".encode(), 400, 413),
        "json-escaped-key": _req(
            "/api", "application/json", f'{{"card":{{"numb\\u0065r":"{s}"}}}}'.encode(), 200, 400
        ),
        "json-duplicate-key": _req(
            "/api", "application/json", f'{{"card":{{"number":"{s}","number":"{s}"}}}}'.encode(), 200, 400
        ),
        "json-truncated": _req("/api", "application/json", f'{{"card":{{"number":"{s}"'.encode(), 400),
        "multipart-no-end": _req(
            "/upload",
            f"{MULTIPART}; boundary={b}",
            f'--{b}\r\nContent-Disposition: form-data; name="card"\r\n\r\n{s}'.encode(),
            400,
        ),
        "unknown-type": _req("/x", "application/xml", f"<phone>{s}</phone>".encode(), 400),
        "two-content-types": two_types,
        "huge-header": _req("/page", None, None, 400, 431, X_Big="a" * 20000),
    }


CASE_NAMES = list(_cases("x"))


def config_dir(directory: Path, key: rsa.RSAPrivateKey) -> Path:
    """The sample's form profile plus JSON and multipart profiles, all under one key."""
    config = cf_config(
        "C1",
        [
            (FORM, "P1"),
            ("text/plain", None),
            ("application/json", "PJSON", "JSON"),
            (MULTIPART, "PMULTI", "Multipart"),
        ],
    )
    return write_config_dir(
        directory,
        cf_public_key("KA", "KeyA", key),
        cf_profile("P1", [("KA", "FLEDemo", ["phone", "email"])]),
        cf_profile("PJSON", [("KA", "FLEDemo", ["/card/number"])]),
        cf_profile("PMULTI", [("KA", "FLEDemo", ["card"])]),
        config,
    )


# --- the proxy process and its /proc samples ------------------------------------------------------------


@dataclass
class Sample:
    done: int  # requests answered so far
    seconds: float
    rss: int  # bytes
    fds: int


def sample(pid: int, done: int, started: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    rss = int(match.group(1)) * 1024 if match else 0
    return Sample(done, round(time.monotonic() - started, 2), rss, len(os.listdir(f"/proc/{pid}/fd")))


async def start_proxy(config: Path, origin: str) -> tuple[asyncio.subprocess.Process, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fle",
        "proxy",
        "--config",
        str(config),
        "--origin",
        origin,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--access-log",
        "off",
        # one process: RSS and descriptors are sampled from this pid (with workers it is the idle parent)
        "--workers",
        "1",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    urls: dict[str, str] = {}
    assert process.stderr is not None
    async with asyncio.timeout(30):
        while "proxy" not in urls:
            line = (await process.stderr.readline()).decode()
            if not line:
                raise RuntimeError("fle proxy exited before listening")
            for kind in ("admin", "proxy"):
                if f"{kind} listening on " in line:
                    urls[kind] = line.split(f"{kind} listening on ")[1].split()[0].rstrip(",")
    return process, urls["proxy"], urls["admin"]


async def _drain_stderr(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        if len(lines) < 200:
            lines.append(line.decode(errors="replace").rstrip())


# --- the run ----------------------------------------------------------------------------------------------


@dataclass
class Result:
    requests: int
    completed: int
    seconds: float
    rate: float  # requests per second
    concurrency: int
    statuses: dict[str, dict[str, int]]  # case -> status -> count
    unexpected: dict[str, int]  # "case status" -> count, answers outside the case's expected set
    client_errors: dict[str, int]  # exception name -> count (connections the proxy closed, etc.)
    refusals: dict[str, int]  # the proxy's own fle_proxy_refusals_total by reason
    canary_violations: list[str]
    canary_requests: int  # requests the proxy forwarded to the canary
    samples: list[Sample] = field(default_factory=list)
    stopped_early: bool = False
    proxy_alive: bool = True
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        warm = self.warm_sample()
        out = {k: v for k, v in asdict(self).items() if k != "samples"}
        if self.samples:
            first, last = self.samples[0], self.samples[-1]
            out["rss_mib"] = {
                "start": _mib(first.rss),
                "after_warm_up": _mib(warm.rss),
                "peak": _mib(max(s.rss for s in self.samples)),
                "end": _mib(last.rss),
            }
            out["fds"] = {
                "start": first.fds,
                "after_warm_up": warm.fds,
                "peak": max(s.fds for s in self.samples),
                "end": last.fds,
            }
        return out

    def warm_sample(self) -> Sample:
        threshold = max(1000, int(self.requests * WARM_UP))
        return next((s for s in self.samples if s.done >= threshold), self.samples[-1])


def _mib(n: int) -> float:
    return round(n / 1024 / 1024, 1)


def _check(result: Result) -> None:
    p = result.problems
    if result.canary_violations:
        p.append(f"{len(result.canary_violations)} canary violations: protected plaintext reached the origin")
    if result.unexpected:
        p.append(f"answers outside the expected set: {result.unexpected}")
    if result.client_errors:
        p.append(f"requests that failed without an answer: {result.client_errors}")
    if result.stopped_early:
        p.append(f"stopped at the time limit after {result.completed} of {result.requests} requests")
    if not result.proxy_alive:
        p.append("the proxy process died")
    if result.samples:
        warm, last = result.warm_sample(), result.samples[-1]
        if last.rss - warm.rss > RSS_GROWTH_BOUND:
            p.append(
                f"RSS grew {_mib(last.rss - warm.rss)} MiB after warm-up (bound {_mib(RSS_GROWTH_BOUND)})"
            )
        if last.fds - warm.fds > FD_GROWTH_BOUND:
            p.append(f"open fds grew from {warm.fds} to {last.fds} after warm-up (bound +{FD_GROWTH_BOUND})")


async def _refusals(session: aiohttp.ClientSession, admin: str) -> dict[str, int]:
    async with session.get(f"{admin}/metrics") as response:
        text = await response.text()
    found = re.findall(r'^fle_proxy_refusals_total\{reason="([^"]+)"\} ([0-9.e+]+)$', text, re.M)
    return {reason: int(float(count)) for reason, count in found}


async def run_soak(
    requests: int, concurrency: int = 32, max_seconds: float = 1800, seed: int = 9, sample_every: int = 500
) -> Result:
    """Send `requests` requests (at most for `max_seconds`) and check the proxy throughout."""
    rng = random.Random(seed)
    secrets = [f"SOAK-{rng.randrange(10**8):08d}-{i:03d}" for i in range(64)]  # '-': never in base64
    canary = Canary()
    canary.protect(*secrets)
    canary_runner, canary_url = await start_site(canary_app(canary), "127.0.0.1", 0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    statuses: dict[str, Counter[int]] = {name: Counter() for name in CASE_NAMES}
    unexpected: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    samples: list[Sample] = []
    stderr: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fle-soak-") as tmp:
        process, url, admin = await start_proxy(config_dir(Path(tmp) / "cfg", key), canary_url)
        draining = asyncio.create_task(_drain_stderr(process, stderr))
        started = time.monotonic()
        deadline = started + max_seconds
        samples.append(sample(process.pid, 0, started))
        done = next_index = forwarded = 0
        case_cache = {s: _cases(s) for s in secrets}
        plan = [(rng.choice(secrets), rng.choice(CASE_NAMES)) for _ in range(requests)]

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal done, next_index, forwarded
            while next_index < requests and time.monotonic() < deadline:
                secret, name = plan[next_index]
                next_index += 1
                req = case_cache[secret][name]
                try:
                    async with session.request(
                        req.method, url + req.path, headers=req.headers, data=req.body
                    ) as r:
                        await r.read()
                        status = r.status
                except (aiohttp.ClientError, TimeoutError) as e:
                    errors[f"{name}: {type(e).__name__}"] += 1
                else:
                    statuses[name][status] += 1
                    if status not in req.expect:
                        unexpected[f"{name} {status}"] += 1
                done += 1
                if done % sample_every == 0:
                    samples.append(last := sample(process.pid, done, started))
                    if done % (sample_every * 20) == 0:
                        print(f"{done} answered, {last.seconds} s, RSS {_mib(last.rss)} MiB", file=sys.stderr)
                    if len(canary.received) > 1000:
                        forwarded += len(canary.received)
                        canary.received.clear()  # the soak needs the canary's checks, not what it kept

        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, skip_auto_headers=["Content-Type"]
        ) as session:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
            seconds = time.monotonic() - started
            await asyncio.sleep(1.0)  # let the proxy close what the last requests left open
            samples.append(sample(process.pid, done, started))
            refusals = await _refusals(session, admin)
        await asyncio.sleep(0.5)
        samples.append(sample(process.pid, done, started))  # after the client's connections are closed
        alive = process.returncode is None
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
        draining.cancel()
    await canary_runner.cleanup()
    result = Result(
        requests=requests,
        completed=done,
        seconds=round(seconds, 1),
        rate=round(done / seconds, 1) if seconds else 0.0,
        concurrency=concurrency,
        statuses={name: {str(k): v for k, v in sorted(c.items())} for name, c in statuses.items()},
        unexpected=dict(unexpected),
        client_errors=dict(errors),
        refusals=refusals,
        canary_violations=canary.violations[:20],
        canary_requests=forwarded + len(canary.received),
        samples=samples,
        stopped_early=done < requests,
        proxy_alive=alive,
    )
    _check(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(run_soak(args.requests, args.concurrency, args.max_seconds, args.seed))
    summary = result.summary()
    if args.json:
        summary["samples"] = [asdict(s) for s in result.samples]
    print(json.dumps(summary, indent=2))
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
