"""benchmarks/lone.py's client reads whole answers, by length and by chunks, on one keep-alive connection.

The lone-request scenario times each request from the first byte sent to the last byte read, so the client
must read exactly one answer per request (a byte left over would be taken for the next answer's start).
A real aiohttp server on a port the OS gave answers both ways; the fle proxy answers by length today, and
a chunked answer must not break the scenario if that changes.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from benchmarks import lone
from benchmarks.servers import FORM, FORM_TYPE, Server


async def by_length(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


async def by_chunks(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    response = web.StreamResponse(status=201)
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(3):
        await response.write(body)
    await response.write_eof()
    return response


async def refused(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=413, text="too large")


@pytest.fixture
def server_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/submit", by_length, name="length")
    app.router.add_post("/chunked/submit", by_chunks)
    app.router.add_post("/refused/submit", refused)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_one_answer_per_request_by_length_and_by_chunks(server_url: str) -> None:
    plain = lone.Connection(server_url)
    chunked = lone.Connection(server_url + "/chunked")
    try:
        for _ in range(5):  # the same connections throughout: nothing of one answer left for the next
            assert plain.request(FORM_TYPE, FORM) == 200 and plain.buffer == b""
            assert chunked.request(FORM_TYPE, FORM) == 201 and chunked.buffer == b""
    finally:
        plain.close()
        chunked.close()


def test_a_batch_counts_answers_other_than_2xx_as_errors(server_url: str) -> None:
    # a Server record for a process whose CPU the batch can read (this test's own python)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ok = lone.batch(
            Server("x", process, server_url, Path("/dev/null")), FORM_TYPE, 20, 0.5, random.Random(1)
        )
        bad = Server("x", process, server_url + "/refused", Path("/dev/null"))
        refused_batch = lone.batch(bad, FORM_TYPE, 20, 0.5, random.Random(1))
    finally:
        process.kill()
        process.wait()
    assert (ok.requests, ok.errors) == (20, 0) and ok.max_ms >= ok.p99_ms >= ok.p50_ms > 0
    assert (refused_batch.requests, refused_batch.errors) == (20, 20)
