"""The sample application behind the proxy: a sign-up form whose submissions are stored as received.

It never decrypts: what it stores (and shows) for a protected field is the ciphertext the edge wrote.

    GET  /                          the form (full name, email address, phone number)
    POST /submit                    store the form as received; the answer page shows what was stored
    GET  /submissions/{id}          the answer page again
    POST /submissions/{id}/charge   (demo, when built with a Charge) send the stored value through reveal
    POST /api/submissions           JSON object of text fields -> 201 {"id", "received_at", ...}
    GET  /api/submissions/{id}      the stored submission as JSON (404 if there is none)
    GET  /find                      the search form (one field, protected and indexed by the edge)
    POST /find                      the candidates whose beacon is the term's (HTML, or JSON {"ids": [...]})
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from store import Store, StoreError

from . import api, find, pages
from .charge import Charge, charge, charge_form
from .saving import BadSubmission, refusal, store_once, stored_item, submission

STORE = web.AppKey("store", Store)
CHARGE = web.AppKey("charge", Charge)
MAX_BODY = 2 * 1024 * 1024  # bytes: the proxy's 1 MB limit grows with base64 ciphertext
ID_FIELD = "submission_id"  # the form's hidden field: posting the same form twice stores it once


async def form_page(request: web.Request) -> web.Response:
    return web.Response(
        text=pages.form_page(), content_type="text/html", headers={"Cache-Control": "no-store"}
    )


async def _form_fields(request: web.Request) -> dict[str, str]:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise web.HTTPUnsupportedMediaType(text="submit the form as application/x-www-form-urlencoded\n")
    form = await request.post()
    fields: dict[str, str] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            raise web.HTTPBadRequest(text=f"field {name!r} is a file; this form takes text only\n")
        if name in fields:
            raise web.HTTPBadRequest(text=f"field {name!r} appears more than once\n")
        fields[name] = value
    return fields


async def submit(request: web.Request) -> web.Response:
    fields = await _form_fields(request)
    client_id = fields.pop(ID_FIELD, None)
    try:
        item, repeated = await store_once(request.app[STORE], submission(fields, client_id))
    except (StoreError, BadSubmission) as e:
        raise refusal(e, as_json=False) from e
    page = pages.stored_page(item, repeated=repeated, extra=_charge_form(request, item.id))
    return web.Response(text=page, content_type="text/html", headers={"X-Submission-Id": item.id})


async def stored(request: web.Request) -> web.Response:
    item = await stored_item(request.app[STORE], request.match_info["id"], as_json=False)
    if item is None:
        raise web.HTTPNotFound(text="no submission with this id\n")
    page = pages.stored_page(item, extra=_charge_form(request, item.id))
    return web.Response(text=page, content_type="text/html")


def _charge_form(request: web.Request, item_id: str) -> str:
    return charge_form(item_id) if CHARGE in request.app else ""


async def charge_item(request: web.Request) -> web.Response:
    return await charge(request, request.app[STORE], request.app[CHARGE])


def build_app(store: Store, charge_through: Charge | None = None) -> web.Application:
    """The origin application over `store`; the store is closed when the app shuts down. With
    `charge_through` (fle demo), the answer page can send the stored value through the reveal proxy."""
    app = web.Application(client_max_size=MAX_BODY)
    app[STORE] = store
    if charge_through is not None:
        app[CHARGE] = charge_through

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[STORE].close()

    app.cleanup_ctx.append(close_store)
    app.router.add_get("/", form_page)
    app.router.add_post("/submit", submit)
    app.router.add_get("/submissions/{id}", stored)
    if charge_through is not None:
        app.router.add_post("/submissions/{id}/charge", charge_item)
    api.add_routes(app, STORE)
    find.add_routes(app, STORE)
    return app
