"""Run a load plan: workers share one connection pool and take request slots until the plan is done."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import aiohttp

from .report import Summary, Tally, show_progress, summarise

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class LoadError(Exception):
    """The target cannot be load-tested (it cannot be reached); the message says why."""


@dataclass(frozen=True, slots=True)
class Plan:
    url: str
    body: bytes
    concurrency: int
    duration: float  # seconds
    requests: int | None = None  # stop after this many (None: when the duration is over)
    rate: float | None = None  # requests per second (None: flat out)
    timeout: float = 30.0  # seconds per request
    tls: ssl.SSLContext | None = None  # None: the default verification for https://


def _ssl_option(plan: Plan) -> ssl.SSLContext | bool:
    return plan.tls if plan.tls is not None else True


async def _one(session: aiohttp.ClientSession, plan: Plan, tally: Tally, started: float) -> None:
    try:
        async with session.post(plan.url, data=plan.body, headers=_FORM) as response:
            await response.read()
            status = str(response.status)
    except (aiohttp.ClientError, TimeoutError) as e:
        status = type(e).__name__
    tally.statuses[status] += 1
    if status.isdigit() and int(status) < 400:
        tally.latencies.append(time.perf_counter() - started)


async def load(plan: Plan, progress: bool = False) -> Summary:
    """Run the plan; a progress line on stderr every second when `progress`."""
    tally = Tally()
    start = time.perf_counter()
    deadline = start + plan.duration
    timeout = aiohttp.ClientTimeout(total=plan.timeout)
    connector = aiohttp.TCPConnector(limit=plan.concurrency, ssl=_ssl_option(plan))

    def take() -> float | None:
        """The next request's start time (scheduled when pacing), or None when the plan is done."""
        if plan.requests is not None and tally.issued >= plan.requests:
            return None
        at = start + tally.issued / plan.rate if plan.rate else time.perf_counter()
        if at >= deadline:
            return None
        tally.issued += 1
        return at

    async def worker(session: aiohttp.ClientSession) -> None:
        while (at := take()) is not None:
            wait = at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            await _one(session, plan, tally, at)

    async def report() -> None:
        while True:
            await asyncio.sleep(1.0)
            show_progress(tally, time.perf_counter() - start, plan.duration, plan.requests, final=False)

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        reporter = asyncio.create_task(report()) if progress else None
        try:
            await asyncio.gather(*(worker(session) for _ in range(plan.concurrency)))
        finally:
            if reporter is not None:
                reporter.cancel()
    seconds = time.perf_counter() - start
    if progress:
        show_progress(tally, seconds, plan.duration, plan.requests, final=True)
    return summarise(plan.url, tally, seconds)


async def preflight(plan: Plan) -> str:
    """One request before the load: LoadError if the URL cannot be reached; else the answer's text."""
    timeout = aiohttp.ClientTimeout(total=plan.timeout)
    connector = aiohttp.TCPConnector(ssl=_ssl_option(plan))
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            async with session.post(plan.url, data=plan.body, headers=_FORM) as response:
                return (await response.read()).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError) as e:
        raise LoadError(f"cannot reach {plan.url}: {e or type(e).__name__}") from e
