"""The admin listener, on its own port so that no origin path is shadowed: health, readiness, metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from edge_proxy.pipeline.runtime import RUNTIME, Runtime


async def healthz(request: web.Request) -> web.Response:
    """200 while the process answers at all."""
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """200 while new requests are welcome; 503 once draining after SIGTERM."""
    if request.app[RUNTIME].draining:
        return web.Response(status=503, text="draining\n")
    return web.Response(text="ready\n")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[RUNTIME].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_admin_app(runtime: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
