"""`fle bench` against a real proxy and origin on loopback: counts, statuses, pacing, progress, errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from edge_proxy import ProxySettings, build_app
from profiles import load_config_dir
from tests.helpers import make_config_dir, serving

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def proxied(tmp_path: Path, rsa_key) -> AsyncIterator[tuple[str, list[bytes]]]:  # type: ignore[no-untyped-def]
    """(proxy URL, bodies the origin received)."""
    received: list[bytes] = []

    async def submit(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="stored")

    origin = web.Application()
    origin.router.add_post("/submit", submit)
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config(None)
    async with serving(origin) as origin_url:
        async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            yield proxy_url, received


async def fle_bench(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fle",
        "bench",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_bench_counts_every_request_and_the_proxy_encrypts_them(proxied) -> None:  # type: ignore[no-untyped-def]
    url, received = proxied
    code, out, err = await fle_bench(f"{url}/submit", "--requests", "60", "-c", "4", "-d", "30", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["requests"] == summary["ok"] == 60 and summary["errors"] == 0
    assert summary["statuses"] == {"200": 60}
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert len(received) == 61  # one preflight request, then the 60
    assert all(b"404-555-0150" not in body and b"phone=AYABe" in body for body in received)
    assert "requests" in err and "rps" in err  # the progress display (plain lines when not a terminal)


async def test_bench_paces_requests_at_the_given_rate(proxied) -> None:  # type: ignore[no-untyped-def]
    url, _ = proxied
    code, out, err = await fle_bench(f"{url}/submit", "--rate", "40", "-d", "1.5", "--json", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["requests"] == 60  # scheduled at 0, 1/40, ... up to the 1.5 s deadline
    assert err == ""


async def test_bench_reports_error_statuses(proxied) -> None:  # type: ignore[no-untyped-def]
    url, _ = proxied
    code, out, _ = await fle_bench(f"{url}/missing", "--requests", "5", "-c", "1", "--json", "--quiet")
    summary = json.loads(out)
    assert code == 1 and summary["statuses"] == {"404": 5} and summary["errors"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:1/submit", "-d", "1"], "cannot reach http://127.0.0.1:1/submit"),
        (["ftp://example.com/"], "expected an http:// or https:// URL"),
        (["http://127.0.0.1:1/", "--field", "novalue"], "expected NAME=VALUE"),
    ],
)
async def test_bench_usage_errors_are_clear(args: list[str], message: str) -> None:
    code, _, err = await fle_bench(*args)
    assert code == 2 and message in err and "Traceback" not in err
