"""The JSON API: `POST /api/submissions` and `GET /api/submissions/{id}`.

A submission is a JSON object whose values are text, e.g. {"name": "Jane Doe", "phone": "AYAB..."}
(ciphertext where the edge encrypted a field). An `Idempotency-Key` header (32 lower-case hex digits)
becomes the id, so a client that retries stores the submission once: the first POST answers 201, a
repeat 200 with the submission stored first.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from store import Store, StoreError

from .saving import BadSubmission, refusal, store_once, stored_item, submission


def _error(status: type[web.HTTPException], reason: str) -> web.HTTPException:
    return status(text=json.dumps({"error": reason}), content_type="application/json")


async def _json_fields(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/json":
        raise _error(web.HTTPUnsupportedMediaType, "send the submission as application/json")
    try:
        document: Any = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _error(web.HTTPBadRequest, f"the body is not valid JSON: {e}") from e
    if not isinstance(document, dict) or not document:
        raise _error(web.HTTPBadRequest, 'the body must be a JSON object of text fields: {"name": "..."}')
    bad = sorted(name for name, value in document.items() if not isinstance(value, str))
    if bad:
        raise _error(web.HTTPBadRequest, f"field values must be strings; not so for {bad}")
    return document


def add_routes(app: web.Application, store_key: web.AppKey[Store]) -> None:
    async def create(request: web.Request) -> web.Response:
        fields = await _json_fields(request)
        try:
            item = submission(fields, request.headers.get("Idempotency-Key"))
            item, repeated = await store_once(request.app[store_key], item)
        except (StoreError, BadSubmission) as e:
            raise refusal(e, as_json=True) from e
        return web.json_response(
            item.to_json(),
            status=200 if repeated else 201,
            headers={"Location": f"/api/submissions/{item.id}"},
        )

    async def read(request: web.Request) -> web.Response:
        item = await stored_item(request.app[store_key], request.match_info["id"], as_json=True)
        if item is None:
            raise _error(web.HTTPNotFound, "no submission with this id")
        return web.json_response(item.to_json())

    app.router.add_post("/api/submissions", create)
    app.router.add_get("/api/submissions/{id}", read)
