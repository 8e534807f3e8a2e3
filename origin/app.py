"""The sample application behind the proxy: a sign-up form whose submissions are stored as received.

It never decrypts: what it stores (and shows) for a protected field is the ciphertext the edge wrote.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from importlib import resources
from string import Template

from aiohttp import web

from store import Store, StoreError, Submission

log = logging.getLogger("origin")

STORE = web.AppKey("store", Store)
MAX_BODY = 2 * 1024 * 1024  # bytes: the proxy's 1 MB limit grows with base64 ciphertext


def _template(name: str) -> str:
    return resources.files("origin").joinpath("templates", name).read_text(encoding="utf-8")


_FORM = _template("form.html")
_STORED = Template(_template("stored.html"))


async def form_page(request: web.Request) -> web.Response:
    return web.Response(text=_FORM, content_type="text/html")


async def submit(request: web.Request) -> web.Response:
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
    item = Submission(fields=fields)
    try:
        await request.app[STORE].put(item)
    except StoreError as e:
        log.error("store failed: %s", type(e).__name__)
        raise web.HTTPServiceUnavailable(text="the submission could not be stored; try again\n") from e
    rows = "\n".join(
        f'<tr><td>{name}</td><td class="value" data-field="{name}">{html.escape(v)}</td></tr>'
        for name, v in ((html.escape(k), v) for k, v in item.fields.items())
    )
    page = _STORED.substitute(id=html.escape(item.id), received_at=html.escape(item.received_at), rows=rows)
    return web.Response(text=page, content_type="text/html", headers={"X-Submission-Id": item.id})


def build_app(store: Store) -> web.Application:
    """The origin application over `store`; the store is closed when the app shuts down."""
    app = web.Application(client_max_size=MAX_BODY)
    app[STORE] = store

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[STORE].close()

    app.cleanup_ctx.append(close_store)
    app.router.add_get("/", form_page)
    app.router.add_post("/submit", submit)
    return app
