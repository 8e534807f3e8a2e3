"""The reference: a minimal pooled aiohttp pass-through proxy, the yardstick for the edge proxy's overhead.

It does the least a correct reverse proxy must: one pooled client session, the request body and the
response body streamed through, status and headers copied (minus hop-by-hop headers). No profiles, no
parsing, no limits. `python -m benchmarks.reference_proxy --listen 127.0.0.1:PORT --origin URL`
"""

from __future__ import annotations

import argparse

import aiohttp
from aiohttp import web
from yarl import URL

_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
SESSION = web.AppKey("session", aiohttp.ClientSession)
ORIGIN = web.AppKey("origin", str)


def _headers(headers: object) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP}  # type: ignore[attr-defined]


async def handle(request: web.Request) -> web.StreamResponse:
    target = URL(request.app[ORIGIN] + request.rel_url.raw_path_qs, encoded=True)
    body = request.content if request.body_exists else None
    async with request.app[SESSION].request(
        request.method, target, headers=_headers(request.headers), data=body, allow_redirects=False
    ) as upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.update(_headers(upstream.headers))
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:  # the client left (wrk closes its connections at the end of a run)
            pass
        return response


def build_app(origin: str) -> web.Application:
    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as s:
            app[SESSION] = s
            yield

    app = web.Application()
    app[ORIGIN] = origin.rstrip("/")
    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    parser.add_argument("--origin", required=True, metavar="URL")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(build_app(args.origin), host=host, port=int(port), access_log=None, print=None)


if __name__ == "__main__":
    main()
