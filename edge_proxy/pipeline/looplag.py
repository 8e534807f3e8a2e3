"""Event-loop lag: how late a timer fires, measured continuously and exported on /metrics.

One worker serves every connection from one event loop, so anything that holds the loop (a parser gone
quadratic on hostile bytes, a blocking call) delays every other request on that worker. Request
durations do not show it (each request only sees its own time); this does. A small task sleeps
`interval` seconds, again and again, and records by how much each wake-up came late: that is the
longest stretch the loop could not run anything else, give or take `interval`. A stall of S seconds is
recorded as at least S - interval.

Exported: `fle_proxy_event_loop_lag_seconds` (the last measurement), `..._lag_max_seconds` (the worst
since start, for alerts and for the hostile-corpus benchmark) and the histogram
`fle_proxy_event_loop_delay_seconds`. The probe costs one timer wake-up per interval (0.1 s: ~10 per
second, negligible next to request work).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .metrics import Metrics

INTERVAL = 0.1  # seconds between probes; also the resolution of what is measured


async def probe(metrics: Metrics, interval: float = INTERVAL) -> None:
    """Measure the loop's lag forever (until cancelled)."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - start - interval)
        worst = max(worst, lag)
        metrics.loop_lag.set(lag)
        metrics.loop_lag_max.set(worst)
        metrics.loop_delay.observe(lag)


@contextlib.asynccontextmanager
async def lag_watch(metrics: Metrics, interval: float = INTERVAL) -> AsyncIterator[None]:
    """The probe runs for the length of the block (the proxy's start/stop, app.py), then stops."""
    task = asyncio.create_task(probe(metrics, interval), name="event-loop-lag")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
