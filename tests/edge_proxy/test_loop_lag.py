"""The proxy exports its event loop's lag: a deliberate 0.3 s stall of the loop shows on /metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures_proxy import Canary, phone_config_dir, proxy_stack


async def scrape(admin: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{admin}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("fle_proxy_event_loop_")
    }


@pytest.mark.both_loops
async def test_a_blocked_loop_shows_as_lag_on_metrics(
    canary: Canary, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    config = phone_config_dir(tmp_path / "cfg", rsa_key)
    async with proxy_stack(canary, config) as stack:
        await asyncio.sleep(0.35)  # a few probes at an idle loop
        before = await scrape(stack.admin)
        assert before["fle_proxy_event_loop_delay_seconds_count"] >= 2  # the probe runs
        time.sleep(0.3)  # the point: hold the event loop, as a quadratic parser would
        await asyncio.sleep(0.25)  # the delayed probe wakes, records, and sleeps again
        after = await scrape(stack.admin)
    assert after["fle_proxy_event_loop_lag_max_seconds"] >= 0.19  # 0.3 s stall, minus one 0.1 s interval
    assert after["fle_proxy_event_loop_lag_max_seconds"] < 5
    above = (
        after["fle_proxy_event_loop_delay_seconds_count"]
        - after["fle_proxy_event_loop_delay_seconds_bucket{le=0.1}"]
    )
    before_above = (
        before["fle_proxy_event_loop_delay_seconds_count"]
        - before["fle_proxy_event_loop_delay_seconds_bucket{le=0.1}"]
    )
    assert above >= before_above + 1  # the stall is in the histogram too
    assert "fle_proxy_event_loop_lag_seconds" in after
