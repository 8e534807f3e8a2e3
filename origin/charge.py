"""The demo's "charge" step: send a stored ciphertext to a third party through the reveal proxy.

The origin never decrypts. It posts the stored value, ciphertext as it is, to a reveal route with its bearer
token (`Proxy-Authorization`); reveal decrypts the field the route names and forwards the request to the
processor; the processor's answer page comes back here and is shown to the user. Off unless the app is
built with a `Charge` (only `fle demo` does), so the origin knows nothing of reveal otherwise.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp
from aiohttp import web

from store import Store

from .saving import stored_item

log = logging.getLogger("origin.charge")


@dataclass(frozen=True, slots=True)
class Charge:
    """Where to send a charge (a reveal route's URL), the origin's reveal token, the field that is sent."""

    url: str
    token: str = field(repr=False)
    field: str = "phone"
    timeout: float = 30.0


def charge_form(item_id: str) -> str:
    """The button on the answer page."""
    return (
        f'<form method="post" action="/submissions/{html.escape(item_id)}/charge" id="charge">'
        '<button type="submit">Charge through the reveal proxy</button> '
        "<small>(the stored ciphertext goes to reveal, which decrypts it on its way to a fake processor)"
        "</small>"
        "</form>"
    )


async def charge(request: web.Request, store: Store, settings: Charge) -> web.Response:
    """Post the stored field to the reveal route; answer with what the processor answered."""
    item = await stored_item(store, request.match_info["id"], as_json=False)
    if item is None:
        raise web.HTTPNotFound(text="no submission with this id\n")
    value = item.fields.get(settings.field)
    if value is None:
        raise web.HTTPBadRequest(text=f"this submission has no {settings.field!r} field\n")
    body = f"{quote(settings.field)}={quote(value, safe='')}&amount=1.00"
    headers = {
        "Proxy-Authorization": f"Bearer {settings.token}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.timeout)) as session:
            async with session.post(settings.url, data=body, headers=headers, allow_redirects=False) as r:
                status, answer, kind = r.status, await r.text(), r.content_type
    except (aiohttp.ClientError, TimeoutError) as e:
        log.warning("charge: reveal unreachable: %s", type(e).__name__)
        raise web.HTTPBadGateway(text="the reveal proxy could not be reached\n") from None
    if kind != "text/html":
        answer = f"<pre>{html.escape(answer)}</pre>"
    return web.Response(status=status, text=answer, content_type="text/html")
