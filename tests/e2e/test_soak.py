"""The soak in short (benchmarks/soak.py): 3,000 requests of mixed valid and hostile input through `fle proxy`
as a real process to the canary origin; no protected plaintext reaches it, every answer is one the input
deserves, and the proxy's RSS and open descriptors stay within the documented bounds after warm-up.
The full 100,000-request run and its figures are in docs/reliability.md."""

from __future__ import annotations

import pytest

from benchmarks.soak import CASE_NAMES, run_soak

# a soak of about 15 s, bounded by run_soak at 240 s, plus the start-up of its real processes
pytestmark = pytest.mark.timeout(420)


@pytest.mark.soak
async def test_short_soak() -> None:
    result = await run_soak(3000, concurrency=16, max_seconds=240)
    assert result.canary_violations == []
    assert result.problems == [], result.problems
    assert result.completed == 3000 and result.proxy_alive
    assert all(sum(result.statuses[name].values()) > 0 for name in CASE_NAMES)  # every kind was sent
    assert result.canary_requests > 0 and result.refusals  # some went through, some were refused
    assert len(result.samples) >= 6
