"""The answers the edge gives itself, never the origin's: a refusal, and the answer when the origin gave
no response head (a refused streamed body, an idle client, no free connection, or the origin's failure)."""

from __future__ import annotations

import json

from aiohttp import web

from fields.errors import Reason, RequestRefused

from .accesslog import Outcome
from .forward import OriginFailed, failure_response
from .multipart_stream import refusal_in


def refusal(refused: RequestRefused) -> web.Response:
    """The reason's status, and its code and the detail in a JSON body; the connection is not reused."""
    body = json.dumps({"error": refused.reason.code, "message": refused.detail})
    response = web.Response(status=refused.status, text=body, content_type="application/json")
    response.force_close()  # the rest of a refused body is never read: the connection cannot be reused
    return response


def refuse(refused: RequestRefused, outcome: Outcome) -> web.Response:
    """`refusal`, noted in `outcome` (counted and logged as every refusal)."""
    outcome.action, outcome.reason = "refuse", refused.reason
    return refusal(refused)


def failed(failure: OriginFailed, outcome: Outcome) -> web.Response:
    """The answer when the origin gave no response head: a refusal when it was not the origin's fault."""
    if (streamed := refusal_in(failure)) is not None:  # a streamed body was refused
        return refuse(streamed, outcome)
    if outcome.reason == Reason.CLIENT_IDLE_TIMEOUT:
        return refuse(
            RequestRefused(Reason.CLIENT_IDLE_TIMEOUT, "the client stopped sending its body"), outcome
        )
    if failure.kind == "busy":  # the pool wait ran out: nothing was sent
        return refuse(RequestRefused(Reason.ORIGIN_BUSY, "no origin connection came free in time"), outcome)
    outcome.origin_error = failure.kind
    return failure_response(failure)
