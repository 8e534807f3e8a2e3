"""aiohttp: `await request.post()` (forms and multipart), `await request.json()`; aiohttp's own server."""

from __future__ import annotations

import json
import socket

from aiohttp import web

from tests.origins.common import announce, answer, error, text, walk_json


async def parse(request: web.Request) -> web.Response:
    try:
        if request.content_type == "application/json":
            fields: list = []
            walk_json([], await request.json(), fields)
            return web.Response(body=answer(fields, []), content_type="application/json")
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return web.Response(body=error("not read"), status=415)
        fields, files = [], []
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files.append([[key], value.filename, text(value.file.read())])
            else:
                fields.append([[key], text(value)])
        return web.Response(body=answer(fields, files), content_type="application/json")
    except web.HTTPException as e:
        return web.Response(body=error(e.text), status=e.status)
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError, LookupError) as e:
        return web.Response(body=error(repr(e)), status=400)


if __name__ == "__main__":
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", parse)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    announce(sock.getsockname()[1])
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)
