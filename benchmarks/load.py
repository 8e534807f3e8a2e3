"""The load scenarios besides issue 17's side-by-side ones (benchmarks/headline.py): throughput and latency
versus concurrency, a 1 GiB streamed upload, and RSS over a long run. Contenders run interleaved."""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from . import wrk
from .servers import FORM, FORM_TYPE, PASS_TYPE, RssSampler, Server, cpu_seconds, rss_mib


@dataclass(frozen=True, slots=True)
class Target:
    """One contender: where wrk sends the sample form, and under which content type."""

    name: str
    url: str
    content_type: str
    pids: tuple[int, ...] = ()  # processes whose CPU time is charged to this contender


@dataclass(frozen=True, slots=True)
class Point:
    """Medians over the repeats of one contender at one setting."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    runs: int
    cpu_us: float | None = None  # CPU time of the contender's processes per request (load-independent)


def median_point(results: list[wrk.WrkResult], cpu: list[float] | None = None) -> Point:
    return Point(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        runs=len(results),
        cpu_us=statistics.median(cpu) if cpu else None,
    )


def check_forwarding(fle_url: str) -> tuple[int, int]:
    """Sanity: the proxy encrypts the form (the origin sees a longer body) and passes text/plain as is."""
    sizes = []
    for content_type in (FORM_TYPE, PASS_TYPE):
        request = urllib.request.Request(
            fle_url + "/submit", data=FORM, headers={"Content-Type": content_type}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            sizes.append(int(response.read()))
    encrypted, passed = sizes
    if passed != len(FORM) or encrypted < len(FORM) + 300:
        raise RuntimeError(f"proxy does not behave as benchmarked: origin saw {encrypted} and {passed} bytes")
    return encrypted, passed


def _run(target: Target, connections: int, seconds: float, **kw: int) -> wrk.WrkResult:
    return wrk.run(
        target.url + "/submit",
        body=FORM,
        content_type=target.content_type,
        connections=connections,
        seconds=seconds,
        **kw,
    )


def warm_up(targets: list[Target], seconds: float = 1.0) -> None:
    for target in targets:
        _run(target, 8, seconds)


def matrix(
    targets: list[Target], concurrencies: list[int], seconds: float, repeats: int
) -> dict[str, dict[int, Point]]:
    """Throughput and latency of every target at every concurrency, interleaved per repeat."""
    raw: dict[str, dict[int, list[wrk.WrkResult]]] = {t.name: {c: [] for c in concurrencies} for t in targets}
    cpu: dict[str, dict[int, list[float]]] = {t.name: {c: [] for c in concurrencies} for t in targets}
    for _ in range(repeats):
        for c in concurrencies:
            for target in targets:
                before = cpu_seconds(target.pids) if target.pids else 0.0
                result = _run(target, c, seconds)
                raw[target.name][c].append(result)
                if target.pids and result.requests:
                    used = cpu_seconds(target.pids) - before
                    cpu[target.name][c].append(used / result.requests * 1e6)
    return {name: {c: median_point(rs, cpu[name][c]) for c, rs in by_c.items()} for name, by_c in raw.items()}


@dataclass(frozen=True, slots=True)
class Upload:
    size: int
    seconds: float
    origin_received: int
    rss_before_mib: float
    rss_peak_mib: float
    rss_after_mib: float

    @property
    def mib_per_s(self) -> float:
        return self.size / self.seconds / 2**20


async def _stream(url: str, size: int, chunk: int = 256 * 1024) -> int:
    block = bytes(range(256)) * (chunk // 256)

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:  # generated on the fly: the client holds one chunk, never the body
            piece = block[: min(chunk, size - sent)]
            sent += len(piece)
            yield piece

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        async with session.post(url, data=body(), headers=headers) as response:
            response.raise_for_status()
            return int(await response.text())


def upload(proxy: Server, size: int) -> Upload:
    """Stream `size` bytes that no profile applies to through the proxy; sample its RSS meanwhile."""
    before = rss_mib(proxy.pid)
    with RssSampler([proxy.pid], interval=0.02) as sampler:
        start = time.perf_counter()
        received = asyncio.run(_stream(proxy.url + "/upload", size))
        seconds = time.perf_counter() - start
    return Upload(size, seconds, received, before, sampler.peak, rss_mib(proxy.pid))


@dataclass(frozen=True, slots=True)
class LongRun:
    requests: int
    seconds: float
    errors: int
    rss_start_mib: float  # after the first tenth of the run (pools, caches and allocator warmed)
    rss_end_mib: float
    rss_peak_mib: float
    samples: list[tuple[float, float]]


def long_run(proxy: Server, requests: int, connections: int = 16, timeout: float = 300) -> LongRun:
    """`requests` FLE form posts through the proxy (wrk stops itself at the count), RSS sampled."""
    target = Target("fle", proxy.url, FORM_TYPE)
    with RssSampler([proxy.pid], interval=0.25) as sampler:
        result = _run(target, connections, timeout, max_requests=requests)
    samples = sampler.samples
    tenth = [m for t, m in samples if t >= result.seconds / 10] or [samples[-1][1]]
    return LongRun(
        requests=result.requests,
        seconds=result.seconds,
        errors=result.errors,
        rss_start_mib=tenth[0],
        rss_end_mib=samples[-1][1],
        rss_peak_mib=sampler.peak,
        samples=samples,
    )
