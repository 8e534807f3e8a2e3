"""A server on a free loopback port for the length of a block: an aiohttp app (tests and benchmarks both
use it), or a raw stream handler for tests that must write bytes no HTTP library would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
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


@asynccontextmanager
async def serving_raw(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """Run an asyncio stream handler on a free loopback port; yields its base URL. On leaving, the
    listener closes and open connections get up to 2 s to end."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
