"""The reverse proxy (`Proxy`, served by aiohttp's low-level server): select a profile, encrypt protected
fields, forward.

The security rule lives in `_body_to_send`: a body that a profile applies to is read whole and rewritten
before a single byte goes to the origin; if anything on that path fails, the request is refused. A body no
profile applies to is passed on as it arrives (one that has arrived whole goes in one piece); so is a
multipart body, rewritten on the way without ever sending a protected part's plaintext
(multipart_stream.py), unless it came with a Content-Length within the whole-body limit: then it is
rewritten whole and goes with its new Content-Length. A body passed on is read whole into a buffer
(memory, then a temporary file) before an origin connection is taken, unless request buffering is off
(buffering.py says why: a slow client must never hold an origin connection); with it off it is streamed
to the origin as it arrives, in constant memory.

What the origin reads must be what the edge decided on (issue 24): a Connection header may not make a
header the edge decides on hop-by-hop (`_nominated`), and a POST body without Content-Type that would be
forwarded is read as a form, as Rack reads it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import HttpVersion11, web

from edge_proxy.origin_client.pool import OriginPool
from fields.errors import RequestRefused
from fields.refusals import Reason
from profiles import QUERY_ARG_NAME, Action, Decision, select

from .accesslog import Outcome
from .bodies import rewrite_body
from .body import ClientIdle, content_coding, decode, encode, idle_chunks, read_limited
from .buffering import DiskBudget, SpooledBody, buffer_request
from .forward import (
    Body,
    OriginFailed,
    failure_response,
    relay,
    send,
    session_for,
    target_url,
)
from .headers import nominated_decisive, request_headers
from .looplag import lag_watch
from .multipart_stream import multipart_stream, refusal_in, streams
from .runtime import Live, Runtime
from .settings import ProxySettings

log = logging.getLogger("edge_proxy")

FORM = "application/x-www-form-urlencoded"


def _refusal(refused: RequestRefused) -> web.Response:
    body = json.dumps({"error": refused.reason, "message": refused.detail})
    response = web.Response(status=refused.status, text=body, content_type="application/json")
    response.force_close()  # the rest of a refused body is never read: the connection cannot be reused
    return response


async def _rewrite(
    request: web.BaseRequest,
    runtime: Runtime,
    live: Live,
    decision: Decision,
    outcome: Outcome,
    content_type: str,
) -> bytes:
    """Read the whole body, encrypt its protected values, and return what the origin gets."""
    limits, idle = runtime.settings.limits, runtime.settings.timeouts.client_idle
    coding = content_coding(request.headers.getall("Content-Encoding", []))
    raw = await read_limited(request.content, request.content_length, limits.max_body_bytes, idle)
    outcome.body_bytes = len(raw)
    plain = decode(raw, coding, limits.max_body_bytes)
    started = time.perf_counter()
    try:
        rewritten, count = rewrite_body(decision, plain, content_type, live.compiled, limits)
    except RequestRefused:
        raise
    except Exception as e:  # fail closed: whatever broke, the body does not go out
        log.error("field encryption failed: %s", type(e).__name__)
        raise RequestRefused(Reason.ENCRYPTION_FAILED, "a protected field could not be encrypted") from e
    runtime.metrics.encrypt_duration.observe(time.perf_counter() - started)
    outcome.fields_encrypted = count
    return encode(rewritten, coding)


async def _stream(
    request: web.BaseRequest, idle: float, outcome: Outcome, arrived: bytes
) -> AsyncIterator[bytes]:
    """The client's body, passed on chunk by chunk; an idle client is noted and ends the upload."""
    if arrived:
        yield arrived
    try:
        async for chunk in idle_chunks(request.content, idle):
            yield chunk
    except ClientIdle:
        outcome.reason = "ClientIdleTimeout"
        raise


def _forwarded(request: web.BaseRequest, idle: float, outcome: Outcome) -> Body:
    """A body no profile applies to, passed on as it arrives: what has arrived is taken at once; when that
    is all of a body of declared length (the usual small form), it goes to the origin as bytes, in one
    write with the request head, else the rest is streamed (constant memory: at most what aiohttp buffers)."""
    content = request.content
    if request.content_length is None or content.exception() is not None:
        return _stream(request, idle, outcome, b"")  # chunked, or already broken: streamed as ever
    arrived = content.read_nowait()
    if content.at_eof():
        return arrived
    return _stream(request, idle, outcome, arrived)


async def _buffered(
    request: web.BaseRequest,
    runtime: Runtime,
    budget: DiskBudget,
    outcome: Outcome,
    body: AsyncIterable[bytes],
) -> Body:
    """A streamed `body` read whole before any origin connection is taken, when request buffering is on
    (the caller passes only a stream: bytes and no body need no buffering)."""
    buffering = runtime.settings.buffering
    if not buffering.request:
        return body
    declared = request.content_length if outcome.action == "forward" else None
    try:
        whole = await buffer_request(body, buffering, budget, declared)
    except ClientIdle:
        raise RequestRefused(Reason.CLIENT_IDLE_TIMEOUT, "the client stopped sending its body") from None
    runtime.metrics.count_buffered("request", isinstance(whole, SpooledBody))
    return whole


def _blank(content_type: str | None) -> bool:
    return content_type is None or not content_type.strip(" \t")


async def _body_to_send(request: web.BaseRequest, runtime: Runtime, live: Live, outcome: Outcome) -> Body:
    """None (no body), a stream (no profile applies), or the rewritten bytes; RequestRefused otherwise."""
    if not request.body_exists:
        return None
    content_type = request.headers.get("Content-Type")
    query = request.query.getall(QUERY_ARG_NAME, [])
    decision = select(live.config, content_type, query)
    if decision.action is Action.FORWARD and request.method == "POST" and _blank(content_type):
        content_type = FORM  # forwarded, Rack (Rails, Sinatra) would read it as a form: so does the edge
        decision = select(live.config, FORM, query)
    if len(request.headers.getall("Content-Type", [])) > 1:
        raise RequestRefused(Reason.MALFORMED_CONTENT_TYPE, "more than one Content-Type header")
    if decision.action is Action.REJECT:
        reason = decision.reason or Reason.REJECTED_BY_CONTENT_TYPE  # select names one with every REJECT
        raise RequestRefused(reason, "no field-level encryption profile accepts it")
    if decision.action is Action.FORWARD:
        outcome.action = "forward"
        return _forwarded(request, runtime.settings.timeouts.client_idle, outcome)
    assert decision.profile is not None
    outcome.action, outcome.profile = "encrypt", decision.profile.id
    if streams(request, decision):  # multipart: rewritten as it streams (see multipart_stream.py)
        stream = multipart_stream(request, runtime, live, decision, outcome)
        declared = request.content_length
        if declared is None or declared > runtime.settings.limits.max_body_bytes:
            return stream  # chunked to the origin: its length is known only at the end
        return b"".join([chunk async for chunk in stream])  # sent with its new Content-Length
    return await _rewrite(request, runtime, live, decision, outcome, content_type or "")


async def _proxy(
    request: web.BaseRequest, runtime: Runtime, session: OriginPool, outcome: Outcome, budget: DiskBudget
) -> web.StreamResponse:
    live = runtime.live  # one config for the whole request, even if a reload happens meanwhile
    try:
        body = await _body_to_send(request, runtime, live, outcome)
        if body is not None and not isinstance(body, bytes):
            body = await _buffered(request, runtime, budget, outcome, body)
    except RequestRefused as refused:
        outcome.action, outcome.reason = "refuse", refused.reason
        return _refusal(refused)
    try:
        headers = request_headers(
            request.headers, client_ip=request.remote, scheme=request.scheme, host=request.host
        )
        if isinstance(body, SpooledBody):
            headers["Content-Length"] = str(body.length)  # read whole: its length is known
        elif outcome.action == "forward" and body is not None and request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)  # streamed as sent, not re-chunked
        try:
            upstream = await send(session, request, target_url(session, request), headers, body)
        except OriginFailed as failure:
            return _failed(failure, outcome)
        t, buffering = runtime.settings.timeouts, runtime.settings.buffering
        return await relay(
            request,
            upstream,
            outcome,
            buffering,
            budget,
            t.client_write,
            runtime.metrics.count_response_buffer,
            session,
        )
    finally:
        if isinstance(body, SpooledBody):
            body.spool.close()  # sent or not, its temporary file goes


def _failed(failure: OriginFailed, outcome: Outcome) -> web.Response:
    """The answer when the origin gave no response head: a refusal when it was not the origin's fault."""
    if (streamed := refusal_in(failure)) is not None:  # a streamed body was refused
        outcome.action, outcome.reason = "refuse", streamed.reason
        return _refusal(streamed)
    if outcome.reason == "ClientIdleTimeout":
        outcome.action = "refuse"
        return _refusal(RequestRefused(Reason.CLIENT_IDLE_TIMEOUT, "the client stopped sending its body"))
    if failure.kind == "busy":  # the pool wait ran out: nothing was sent
        outcome.action, outcome.reason = "refuse", "OriginBusy"
        return _refusal(RequestRefused(Reason.ORIGIN_BUSY, "no origin connection came free in time"))
    outcome.origin_error = failure.kind
    return failure_response(failure)


async def _expect(request: web.BaseRequest) -> RequestRefused | None:
    """`Expect: 100-continue` is answered here, before the body is read (what aiohttp's router did for
    the application this proxy was until issue 17); another expectation is refused with 417."""
    writer = request.writer
    if request.version == HttpVersion11:
        expect = request.headers.get("Expect", "")
        if expect.lower() != "100-continue":
            return RequestRefused(Reason.EXPECTATION_FAILED, f"Unknown Expect: {expect}")
        await writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.output_size = 0  # the interim answer is not part of the response's size
    await writer.drain()
    return None


def _nominated(request: web.BaseRequest) -> RequestRefused | None:
    """A Connection header that names a header the edge decides on is refused: without it the origin would
    read the request otherwise (a body without its Content-Type is a form to Rack)."""
    name = nominated_decisive(request.headers)
    if name is None:
        return None
    return RequestRefused(
        Reason.HOP_BY_HOP_NOMINATION,
        f"the Connection header names {name}, which the origin must receive as the edge read it",
    )


def _websocket(request: web.BaseRequest) -> bool:
    """True for a websocket Upgrade: aiohttp keeps what is pipelined behind it (and re-reads it once the
    upgrade is declined). Behind any other Upgrade (h2c) its parser drops the rest of the bytes read: the
    connection is closed after the answer, so a client retries a pipelined request rather than wait for it.
    """
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"


class Proxy:
    """The reverse proxy as a service for `start_site` (serving.py): aiohttp's low-level server calls
    `handle` for every request, with no application, router or middleware in between.

    start() opens what requests share (the pooled origin session, the event-loop lag probe exported as
    fle_proxy_event_loop_lag_*); stop() closes them. A Runtime passed in is shared with an admin app and
    with reloads.
    """

    def __init__(self, settings: ProxySettings | Runtime) -> None:
        self.runtime = settings if isinstance(settings, Runtime) else Runtime(settings)
        self.session: OriginPool | None = None
        # bytes of all buffered bodies in temporary files, in this process (buffering.py)
        self.budget = DiskBudget(self.runtime.settings.buffering.disk_bytes)
        self._resources: AsyncExitStack | None = None

    async def start(self) -> None:
        async with AsyncExitStack() as stack:
            self.session = await stack.enter_async_context(session_for(self.runtime.settings))
            await stack.enter_async_context(lag_watch(self.runtime.metrics))
            self._resources = stack.pop_all()

    async def stop(self) -> None:
        resources, self._resources = self._resources, None
        if resources is not None:
            await resources.aclose()
        self.session = None

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every request: proxy it, then count it and write its access-log line (never a field value)."""
        session = self.session
        if session is None:
            raise RuntimeError("the proxy is not started")
        runtime = self.runtime
        metrics = runtime.metrics
        outcome = Outcome.of(request)
        metrics.in_flight.inc()
        try:
            refused = _nominated(request) if "Connection" in request.headers else None
            if refused is None and "Expect" in request.headers:
                refused = await _expect(request)
            if refused is not None:
                outcome.action, outcome.reason = "refuse", refused.reason  # counted and logged as any
                response: web.StreamResponse = _refusal(refused)
            else:
                response = await _proxy(request, runtime, session, outcome, self.budget)
                if "Upgrade" in request.headers and not _websocket(request):
                    response.force_close()  # aiohttp's parser lost what was pipelined behind it
            outcome.status = response.status
            return response
        except Exception:
            outcome.status = 500  # a bug: aiohttp answers 500, and nothing was forwarded half-rewritten
            raise
        finally:
            metrics.in_flight.dec()
            status = outcome.status or 499  # 499: the client went away before an answer
            outcome.status = status
            metrics.count_request(outcome.method_label, outcome.action, status, outcome.seconds())
            if outcome.fields_encrypted:
                metrics.fields_encrypted.inc(outcome.fields_encrypted)
            if outcome.action == "refuse" and outcome.reason:
                metrics.count_refusal(outcome.reason)
            elif outcome.reason == "ClientWriteTimeout":
                metrics.client_write_timeouts.inc()
            if outcome.origin_error:
                metrics.count_origin_error(outcome.origin_error)
            outcome.emit()


def build_app(settings: ProxySettings | Runtime) -> Proxy:
    """The proxy, ready for `start_site`; every path and method goes to `Proxy.handle`.

    Pass a Runtime to share its metrics and config with an admin app and with reloads.
    """
    return Proxy(settings)
