"""Talking to the origin: send the request over the pooled client, stream its answer back to the client.

Origin failures become short answers: 502 when it cannot be reached or breaks the exchange, 504 when it
does not answer in time, 503 (OriginBusy, answers.py) when no pooled connection came free within the pool
wait. Once the response has started, a failure can only cut the connection. The client itself is ours
(origin_client/pool.py says why and what it does and does not do).

An answer not complete when its head arrives is read from the origin as fast as it comes, into a buffer
(memory, then a temporary file: buffering.py), and sent from there at the client's pace: the origin
connection goes back to the pool when the answer is complete, not when the client has read it. A client
that takes nothing for the client write timeout has its connection cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from edge_proxy.origin_client.errors import ConnectFailed, PoolBusy, UpstreamError, UpstreamTimeout
from edge_proxy.origin_client.pool import Body as Body  # outbound.py's type of a request body
from edge_proxy.origin_client.pool import OriginPool
from edge_proxy.origin_client.response import OriginResponse

from .accesslog import Outcome
from .buffering import Buffering, DiskBudget, ResponsePump, Spool
from .headers import end_to_end
from .settings import ProxySettings, Timeouts

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
        wait_timeout=t.origin_wait,
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
    except PoolBusy as e:
        raise OriginFailed(503, "busy") from e
    except UpstreamError as e:
        log.warning("origin %s: request failed: %s", origin_name(session), type(e).__name__)
        raise OriginFailed(502, "unreachable" if isinstance(e, ConnectFailed) else "broken") from e


def failure_response(failure: OriginFailed) -> web.Response:
    text = "origin timed out\n" if failure.status == 504 else "origin unreachable\n"
    return web.Response(status=failure.status, text=text)


class ClientWriteTimeout(Exception):
    """The client took none of its answer for the client write timeout."""


async def write_within(write: Awaitable[object], timeout: float) -> None:
    """One write to the client, which waits only when its buffers are full; bounded by `timeout`."""
    try:
        async with asyncio.timeout(timeout):
            await write
    except TimeoutError:
        raise ClientWriteTimeout() from None


def answer_to(request: web.BaseRequest, upstream: OriginResponse) -> web.StreamResponse:
    """What answers `upstream` to the client: a `web.Response` holding the whole body when it is small and
    all here already (one write, its Content-Length the body's), else a StreamResponse with the origin's
    status, reason, end-to-end headers and Content-Length, for `stream_answer` (the edge's and reveal's)."""
    status = upstream.status
    headers = end_to_end(upstream.headers)
    if upstream.content_length is not None and request.method != "HEAD" and status not in (204, 304):
        body = upstream.body_if_complete(ONE_WRITE_BODY)
        if body is not None:
            return web.Response(status=status, reason=upstream.reason, headers=headers, body=body)
    response = web.StreamResponse(status=status, reason=upstream.reason, headers=headers)
    if upstream.content_length is not None:
        response.content_length = upstream.content_length
    return response


async def stream_answer(
    request: web.BaseRequest,
    response: web.StreamResponse,
    read: Callable[[], Awaitable[bytes]],
    write_timeout: float,
) -> UpstreamError | ClientWriteTimeout | None:
    """The head, every piece `read` gives until an empty one, and the end, each write bounded by
    `write_timeout`. None when the answer went out whole; else what cut it, the client's connection already
    ended: closed when `read` raised UpstreamError (the answer broke off), aborted on ClientWriteTimeout
    (what the client has not read is dropped: the connection cannot go on)."""
    try:
        await write_within(response.prepare(request), write_timeout)
        while chunk := await read():
            await write_within(response.write(chunk), write_timeout)
        await write_within(response.write_eof(), write_timeout)
    except UpstreamError as e:
        if request.transport is not None:
            request.transport.close()
        return e
    except ClientWriteTimeout as e:
        if request.transport is not None:
            request.transport.abort()
        return e
    return None


async def relay(
    request: web.BaseRequest,
    upstream: OriginResponse,
    outcome: Outcome,
    buffering: Buffering,
    budget: DiskBudget,
    write_timeout: float,
    buffered: Callable[[str], None],
    origin: OriginPool,
) -> web.StreamResponse:
    """The origin's response to the client: in one write when it is small and all here, else streamed
    piece by piece, through a buffer that reads the origin at its own pace (buffering.py) unless response
    buffering is off (then the origin is not read faster than the client takes). `buffered` is told
    where an answer was buffered ("memory" or "disk") once it is read from the origin (or given up);
    `origin`, the pool, names the origin in the log line of an answer that broke off."""
    pump: ResponsePump | None = None
    task: asyncio.Task[None] | None = None
    try:
        outcome.origin_status = upstream.status
        response = answer_to(request, upstream)
        if isinstance(response, web.Response):  # all here: one write
            return response
        read: Callable[[], Awaitable[bytes]] = upstream.read
        if buffering.response and not upstream.complete:
            spool = Spool(buffering.memory_bytes, budget, buffering.directory)
            pump = ResponsePump(spool, buffering.max_response_bytes)
            task = asyncio.get_running_loop().create_task(pump.run(upstream))
            task.add_done_callback(lambda _: buffered("disk" if spool.spilled else "memory"))
            read = pump.take
        cut = await stream_answer(request, response, read, write_timeout)
        if isinstance(cut, UpstreamError):
            # the name is computed only when the line is written, not per request
            log.warning("origin %s: response broke off: %s", origin_name(origin), type(cut).__name__)
            outcome.origin_error = "broken"
        elif cut is not None:
            outcome.reason = "ClientWriteTimeout"
        return response
    finally:
        if task is not None and not task.done():
            task.cancel()
        if pump is not None:
            pump.spool.close()
        upstream.close()
