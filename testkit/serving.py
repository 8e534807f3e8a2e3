"""An aiohttp app on a free loopback port for the length of a block (tests and benchmarks both use it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from edge_proxy import start_site


@asynccontextmanager
async def serving(app: web.Application, *, auto_decompress: bool = True) -> AsyncIterator[str]:
    """Run `app` on a free loopback port; yields its base URL. aiohttp inflates compressed request bodies
    unless `auto_decompress=False` (as the proxy's own listener does)."""
    runner, url = await start_site(app, "127.0.0.1", 0, auto_decompress=auto_decompress)
    try:
        yield url
    finally:
        await runner.cleanup()
