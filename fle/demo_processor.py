"""The demo's fake payment processor: a page that shows the last four digits of the number it received.

It is the third party behind the reveal route `fle demo` writes: the only place in the demo where the
phone number arrives in plaintext (over loopback http, which reveal allows on loopback only). It keeps
nothing and logs nothing of what it receives.
"""

from __future__ import annotations

import html

from aiohttp import web

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake processor</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; }}</style></head>
<body><h1>Fake payment processor</h1>
<p id="result">Charged {amount} to the number ending in <strong id="last4">{last4}</strong>.</p>
<p>The processor received the number in plaintext from the reveal proxy; the application sent ciphertext.</p>
<p><a href="javascript:history.back()">Back</a></p></body></html>
"""


def processor_app(field: str = "phone") -> web.Application:
    async def charges(request: web.Request) -> web.Response:
        form = await request.post()
        value = form.get(field)
        if not isinstance(value, str):
            return web.Response(status=400, text=f"no {field} field\n")
        digits = "".join(c for c in value if c.isdigit())
        if len(digits) < 4 or any(c.isalpha() for c in value):  # e.g. ciphertext: reveal did not decrypt it
            return web.Response(status=422, text=f"the {field} field is not a number\n")
        last4 = digits[-4:]
        amount = str(form.get("amount", "0.00"))
        page = PAGE.format(amount=html.escape(amount), last4=html.escape(last4))
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_post("/charges", charges)
    return app
