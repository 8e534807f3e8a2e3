"""Talking to the origin: send the request over the pooled session, stream its answer back to the client.

Origin failures become short answers: 502 when it cannot be reached or breaks the exchange, 504 when it
does not answer in time. Once the response has started, a failure can only cut the connection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from .accesslog import Outcome
from .body import CHUNK
from .headers import end_to_end
from .settings import ProxySettings, Timeouts

log = logging.getLogger("edge_proxy")

_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
SESSION = web.AppKey("session", aiohttp.ClientSession)

Body = bytes | AsyncIterable[bytes] | None


class OriginFailed(Exception):
    """The origin could not be reached, answered too slowly or broke the exchange."""

    def __init__(self, status: int, kind: str) -> None:
        self.status = status
        self.kind = kind
        super().__init__(f"{status} origin {kind}")


def session_for(settings: ProxySettings) -> aiohttp.ClientSession:
    """The pooled keep-alive session to the origin; redirects and bodies are passed through untouched."""
    t: Timeouts = settings.timeouts
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=t.origin_connect, sock_read=t.origin_read)
    return aiohttp.ClientSession(
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=_SKIP_AUTO_HEADERS,
        connector=aiohttp.TCPConnector(limit=settings.pool_size, keepalive_timeout=30),
    )


def target_url(origin: URL, request: web.BaseRequest) -> URL:
    return URL(str(origin).rstrip("/") + request.rel_url.raw_path_qs, encoded=True)


async def send(
    session: aiohttp.ClientSession, request: web.BaseRequest, target: URL, headers: Any, body: Body
) -> aiohttp.ClientResponse:
    """Send the request; OriginFailed(502 | 504) when the origin does not give us a response head."""
    try:
        return await session.request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        )
    except TimeoutError as e:
        raise OriginFailed(504, "timeout") from e
    except aiohttp.ClientError as e:
        log.warning("origin request failed: %s", type(e).__name__)
        raise OriginFailed(
            502, "unreachable" if isinstance(e, aiohttp.ClientConnectorError) else "broken"
        ) from e


def failure_response(failure: OriginFailed) -> web.Response:
    text = "origin timed out\n" if failure.status == 504 else "origin unreachable\n"
    return web.Response(status=failure.status, text=text)


async def relay(
    request: web.BaseRequest, upstream: aiohttp.ClientResponse, outcome: Outcome
) -> web.StreamResponse:
    """Stream the origin's response to the client, chunk by chunk, without holding it in memory."""
    async with upstream:
        outcome.origin_status = upstream.status
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(end_to_end(upstream.headers))
        chunked = "chunked" in upstream.headers.get("Transfer-Encoding", "").lower()
        if upstream.content_length is not None and not chunked:
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError) as e:
            log.warning("origin response broke off: %s", type(e).__name__)
            outcome.origin_error = "broken"
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response
