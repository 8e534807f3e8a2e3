"""Flask/Werkzeug: `request.form`, `request.files`, `request.get_json()`; under Werkzeug's threaded server."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from tests.origins.common import announce, answer, error, text, walk_json

app = Flask(__name__)


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def parse(path: str) -> Response:
    try:
        if request.is_json:
            fields: list = []
            walk_json([], request.get_json(), fields)
            return Response(answer(fields, []), mimetype="application/json")
        if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return Response(error("not read"), 415)
        fields = [[[k], v] for k, v in request.form.items(multi=True)]
        files = [[[k], f.filename, text(f.stream.read())] for k, f in request.files.items(multi=True)]
        return Response(answer(fields, files), mimetype="application/json")
    except HTTPException as e:
        return Response(error(e), e.code or 400)
    except Exception as e:  # the framework refused the body in a way it does not map itself
        return Response(error(repr(e)), 500)


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, app, threaded=True)
    announce(server.server_port)
    server.serve_forever()
