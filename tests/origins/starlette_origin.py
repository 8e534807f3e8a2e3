"""Starlette (python-multipart underneath): `await request.form()`, `await request.json()`; under uvicorn."""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.origins.common import announce, answer, error, text, walk_json


async def parse(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media == "application/json":
            fields: list = []
            walk_json([], await request.json(), fields)
            return Response(answer(fields, []), media_type="application/json")
        if media not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return Response(error("not read"), 415)
        form = await request.form()
        fields, files = [], []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append([[key], value.filename, text(await value.read())])
            else:
                fields.append([[key], value])
        return Response(answer(fields, files), media_type="application/json")
    except HTTPException as e:
        return Response(error(e.detail), e.status_code)
    except Exception as e:
        return Response(error(repr(e)), 400)


app = Starlette(routes=[Route("/{path:path}", parse, methods=["POST"])])

if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    announce(sock.getsockname()[1])
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
