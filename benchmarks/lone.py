"""Issue 27's lone request: the latency encryption adds to a request that arrives alone (no queue).

One keep-alive connection per batch, one request in flight at a time, a pause between a response and the
next request (uniform between half and one and a half `gap_ms`), so the proxy is idle when each request
arrives: what is measured is the request's own path through the proxy, not waiting behind others. The
encrypting path (the 3-field form) and the pass-through path (the same bytes as `text/plain`) run as
batches interleaved round by round (the order alternating), against the same `fle proxy --workers 1`.

The client is a blocking socket loop in the harness's process (a hand-built HTTP/1.1 POST, the response
read by Content-Length or chunks), timed with `perf_counter_ns` from the first byte sent to the last byte
read, with the garbage collector off during a batch: an HTTP client library's own per-request work would
be in the figure. It is the same on both paths, so it also cancels out of the difference, which is what
the targets judge: FLE p50 (p99) minus pass-through p50 (p99), round by round, median over the rounds.
"""

from __future__ import annotations

import gc
import math
import random
import socket
import time
import urllib.parse
from dataclasses import dataclass

from . import step_latency
from .rounds import Stat
from .servers import FORM, FORM_TYPE, PASS_TYPE, Server, cpu_seconds

PATHS = {"fle": FORM_TYPE, "passthrough": PASS_TYPE}  # name -> Content-Type of the sample form
WARM_UP = 30  # requests per path before anything is recorded


class LoneError(Exception):
    """The proxy answered something the client cannot read as one HTTP/1.1 response."""


@dataclass(frozen=True, slots=True)
class LoneSample:
    """One batch: `requests` paced requests on one connection, to one path."""

    requests: int
    errors: int  # answers other than 2xx
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    proxy_cpu_s: float  # the proxy's user + system time over the batch (/proc, clock-tick resolution)

    @property
    def proxy_us(self) -> float:
        return self.proxy_cpu_s / self.requests * 1e6 if self.requests else float("nan")


@dataclass(frozen=True, slots=True)
class LoneRequest:
    """Every batch of the scenario, per path, in the order of the rounds."""

    requests: int  # per path and round
    gap_ms: float
    rounds: int
    samples: dict[str, list[LoneSample]]  # "fle", "passthrough"
    # the proxy's own timing of its encryption step over the FLE batches (None: no admin listener)
    encrypt_step: step_latency.StepHistogram | None = None

    def added(self, attr: str) -> Stat:
        """`attr` of the encrypting path minus the pass-through's, round by round (ms)."""
        pairs = zip(self.samples["fle"], self.samples["passthrough"], strict=True)
        return Stat.of([getattr(a, attr) - getattr(b, attr) for a, b in pairs])


def quantile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(latencies_ms: list[float], errors: int, proxy_cpu_s: float) -> LoneSample:
    ordered = sorted(latencies_ms)
    return LoneSample(
        requests=len(ordered),
        errors=errors,
        p50_ms=quantile(ordered, 0.50),
        p99_ms=quantile(ordered, 0.99),
        mean_ms=sum(ordered) / len(ordered) if ordered else float("nan"),
        max_ms=ordered[-1] if ordered else float("nan"),
        proxy_cpu_s=proxy_cpu_s,
    )


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time; the least a client can do per request."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise LoneError(f"not an http://HOST:PORT URL: {url}")
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = parts.netloc
        self.path = parts.path.rstrip("/") + "/submit"
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def request(self, content_type: str, body: bytes) -> int:
        """POST `body` to the URL's path + /submit and read the whole answer; its status."""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode("latin-1") + body)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        self.buffer = self.buffer[end + 4 :]
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "content-length" in headers:
            self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            self._chunks()
        else:
            raise LoneError(f"an answer without a length on a keep-alive connection: {lines[0]}")
        if headers.get("connection", "").lower() == "close":
            raise LoneError("the proxy closed the keep-alive connection")
        return status

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise LoneError("the proxy closed the connection mid-answer")
        self.buffer += data

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill()
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        return line

    def _chunks(self) -> None:
        while size := int(self._line().split(b";", 1)[0], 16):
            self._take(size + 2)
        while self._line():  # trailers, then the empty line
            pass


def batch(server: Server, content_type: str, requests: int, gap_ms: float, rng: random.Random) -> LoneSample:
    """`requests` paced requests on one fresh connection (opened before the clock starts)."""
    latencies: list[float] = []
    errors = 0
    connection = Connection(server.url)
    pids = server.pids()
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        cpu0 = cpu_seconds(pids)
        for _ in range(requests):
            time.sleep(gap_ms * rng.uniform(0.5, 1.5) / 1e3)
            started = time.perf_counter_ns()
            status = connection.request(content_type, FORM)
            latencies.append((time.perf_counter_ns() - started) / 1e6)
            errors += not 200 <= status < 300
        cpu1 = cpu_seconds(pids)
    finally:
        if gc_was_on:
            gc.enable()
        connection.close()
    return summarise(latencies, errors, cpu1 - cpu0)


def run(
    server: Server, requests: int, rounds: int, gap_ms: float, admin_url: str | None = None
) -> LoneRequest:
    """The scenario against one `fle proxy` (its admin listener, when given, for the encryption step's own
    timing over the FLE batches: the pass-through batches rewrite no body)."""
    rng = random.Random(27)
    for content_type in PATHS.values():
        batch(server, content_type, WARM_UP, gap_ms, rng)
    before = step_latency.read(admin_url) if admin_url else None
    samples: dict[str, list[LoneSample]] = {name: [] for name in PATHS}
    order = list(PATHS)
    for i in range(rounds):
        for name in order if i % 2 == 0 else order[::-1]:
            samples[name].append(batch(server, PATHS[name], requests, gap_ms, rng))
    step = step_latency.read(admin_url).minus(before) if admin_url and before else None
    return LoneRequest(requests, gap_ms, rounds, samples, step)
