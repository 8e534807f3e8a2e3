"""The checks made on a request's head before any body byte is read: a Connection header that names a
header the edge decides on (`nominated`), an `Expect` (`expect`), an Upgrade other than websocket
(`websocket`). The head's facts are read once by app.py, straight into `fields.facts.RequestFacts` (one
call per request; the fields layer never sees aiohttp, only the values taken from its request).
"""

from __future__ import annotations

from aiohttp import HttpVersion11, web

from fields.errors import Reason, RequestRefused

from .headers import nominated_decisive


async def expect(request: web.BaseRequest) -> RequestRefused | None:
    """`Expect: 100-continue` is answered here, before the body is read (what aiohttp's router did for
    the application this proxy was until issue 17); another expectation is refused with 417."""
    writer = request.writer
    if request.version == HttpVersion11:
        value = request.headers.get("Expect", "")
        if value.lower() != "100-continue":
            return RequestRefused(Reason.EXPECTATION_FAILED, f"Unknown Expect: {value}")
        await writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.output_size = 0  # the interim answer is not part of the response's size
    await writer.drain()
    return None


def nominated(request: web.BaseRequest) -> RequestRefused | None:
    """A Connection header that names a header the edge decides on is refused: without it the origin would
    read the request otherwise (a body without its Content-Type is a form to Rack)."""
    name = nominated_decisive(request.headers)
    if name is None:
        return None
    return RequestRefused(
        Reason.HOP_BY_HOP_NOMINATION,
        f"the Connection header names {name}, which the origin must receive as the edge read it",
    )


def websocket(request: web.BaseRequest) -> bool:
    """True for a websocket Upgrade: aiohttp keeps what is pipelined behind it (and re-reads it once the
    upgrade is declined). Behind any other Upgrade (h2c) its parser drops the rest of the bytes read: the
    connection is closed after the answer, so a client retries a pipelined request rather than wait for it.
    """
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"
