"""The trivial origin the proxy benchmarks forward to: reads the body, answers 200 with its length.

`python -m benchmarks.origin_app --listen 127.0.0.1:PORT`
"""

from __future__ import annotations

import argparse

from aiohttp import web

_CHUNK = 256 * 1024


async def handle(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):  # streamed: a 1 GiB upload costs no memory
        size += len(chunk)
    return web.Response(text=str(size))


def build_app() -> web.Application:
    app = web.Application(client_max_size=1 << 62)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(build_app(), host=host, port=int(port), access_log=None, print=None)


if __name__ == "__main__":
    main()
