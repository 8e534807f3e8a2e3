"""Talking to the origin: send the request over the pooled client, stream its answer back to the client.

Origin failures become short answers: 502 when it cannot be reached or breaks the exchange, 504 when it
does not answer in time. Once the response has started, a failure can only cut the connection. The
client itself is ours (upstream.py says why and what it does and does not do).
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import CIMultiDict

from .accesslog import Outcome
from .headers import end_to_end
from .settings import ProxySettings, Timeouts
from .upstream import Body as Body  # app.py's type of a request body
from .upstream import OriginPool
from .upstream_errors import ConnectFailed, UpstreamError, UpstreamTimeout
from .upstream_response import OriginResponse

log = logging.getLogger("edge_proxy")

ONE_WRITE_BODY = 64 * 1024  # a complete response body up to this size is answered in one write


class OriginFailed(Exception):
    """The origin could not be reached, answered too slowly or broke the exchange."""

    def __init__(self, status: int, kind: str) -> None:
        self.status = status
        self.kind = kind
        super().__init__(f"{status} origin {kind}")


def session_for(settings: ProxySettings) -> OriginPool:
    """The pooled keep-alive client to the origin; redirects and bodies are passed through untouched."""
    t: Timeouts = settings.timeouts
    return OriginPool(
        settings.origin,
        size=settings.pool_size,
        connect_timeout=t.origin_connect,
        read_timeout=t.origin_read,
        idle_timeout=30.0,
    )


def origin_name(session: OriginPool) -> str:
    """The origin as every origin error log line names it: scheme, host, port, base path (no credentials)."""
    return f"{'https' if session.ssl else 'http'}://{session.host_header}{session.base_path}"


def target_url(session: OriginPool, request: web.BaseRequest) -> str:
    """The request-target for the origin: its base path, then the client's path and query, as received."""
    return session.base_path + request.rel_url.raw_path_qs


async def send(
    session: OriginPool, request: web.BaseRequest, target: str, headers: CIMultiDict[str], body: Body
) -> OriginResponse:
    """Send the request; OriginFailed(502 | 504) when the origin does not give us a response head."""
    try:
        return await session.request(request.method, target, headers, body)
    except UpstreamTimeout as e:
        raise OriginFailed(504, "timeout") from e
    except UpstreamError as e:
        log.warning("origin %s: request failed: %s", origin_name(session), type(e).__name__)
        raise OriginFailed(502, "unreachable" if isinstance(e, ConnectFailed) else "broken") from e


def failure_response(failure: OriginFailed) -> web.Response:
    text = "origin timed out\n" if failure.status == 504 else "origin unreachable\n"
    return web.Response(status=failure.status, text=text)


async def relay(
    request: web.BaseRequest, upstream: OriginResponse, outcome: Outcome, origin: str = "(origin)"
) -> web.StreamResponse:
    """The origin's response to the client: in one write when it is small and all here, else streamed
    piece by piece without holding it in memory (the origin is not read faster than the client takes)."""
    try:
        outcome.origin_status = status = upstream.status
        headers = end_to_end(upstream.headers)
        if upstream.content_length is not None and request.method != "HEAD" and status not in (204, 304):
            body = upstream.body_if_complete(ONE_WRITE_BODY)
            if body is not None:
                return web.Response(status=status, reason=upstream.reason, headers=headers, body=body)
        response = web.StreamResponse(status=status, reason=upstream.reason, headers=headers)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            while chunk := await upstream.read():
                await response.write(chunk)
        except UpstreamError as e:
            log.warning("origin response broke off: %s", type(e).__name__)
            outcome.origin_error = "broken"
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response
    finally:
        upstream.close()
