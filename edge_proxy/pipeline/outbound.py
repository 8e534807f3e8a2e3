"""What body goes to the origin (`body_to_send`): none, the client's as it arrives, or the rewritten one.

The security rule lives here: a body that a profile applies to is read whole and rewritten before a
single byte goes to the origin; if anything on that path fails, the request is refused. A body no profile
applies to is passed on as it arrives (one that has arrived whole goes in one piece); so is a multipart
body, rewritten on the way without ever sending a protected part's plaintext (multipart_stream.py),
unless it came with a Content-Length within the whole-body limit: then it is rewritten whole and goes with
its new Content-Length. A body passed on is read whole into a buffer (memory, then a temporary file)
before an origin connection is taken, unless request buffering is off (`buffered`; buffering.py says
why: a slow client must never hold an origin connection).

What the origin reads must be what the edge decided on (issue 24): a POST body without Content-Type that
would be forwarded is read as a form, as Rack reads it. Every header fact comes from the request's
`RequestFacts` (head.py), read once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator

from aiohttp import web

from fields.errors import Reason, RequestRefused
from fields.facts import RequestFacts
from profiles import QUERY_ARG_NAME, Action, BodyFormat, Decision
from profiles.select import decide

from .accesslog import Outcome
from .bodies import rewrite_body
from .body import ClientIdle, content_coding, decode, encode, idle_chunks, read_limited
from .buffering import DiskBudget, SpooledBody, buffer_request
from .forward import Body
from .multipart_stream import multipart_stream
from .runtime import Live, Runtime

log = logging.getLogger("edge_proxy")

FORM = "application/x-www-form-urlencoded"
# Enum members read per request, as module names: on Python 3.11 `Action.FORWARD` is an unspecialised
# attribute lookup on the enum class (~0.1 µs each, three on every request with a body); a name is not.
_FORWARD, _REJECT, _MULTIPART = Action.FORWARD, Action.REJECT, BodyFormat.MULTIPART


async def body_to_send(
    request: web.BaseRequest, facts: RequestFacts, runtime: Runtime, live: Live, outcome: Outcome
) -> Body:
    """None (no body), a stream (no profile applies), or the rewritten bytes; RequestRefused otherwise."""
    if not facts.body:
        return None
    query = request.query.getall(QUERY_ARG_NAME, [])
    decision = decide(live.config, facts.media_type, query)
    if decision.action is _FORWARD and facts.method == "POST" and facts.blank_content_type:
        facts = facts.read_as(
            FORM
        )  # forwarded, Rack (Rails, Sinatra) would read it as a form: so does the edge
        decision = decide(live.config, facts.media_type, query)
    if facts.content_types > 1:
        raise RequestRefused(Reason.MALFORMED_CONTENT_TYPE, "more than one Content-Type header")
    if decision.action is _REJECT:
        reason = decision.reason or Reason.REJECTED_BY_CONTENT_TYPE  # select names one with every REJECT
        raise RequestRefused(reason, "no field-level encryption profile accepts it")
    if decision.action is _FORWARD:
        outcome.action = "forward"
        return _forwarded(request, facts, runtime.settings.timeouts.client_idle, outcome)
    assert decision.profile is not None
    outcome.action, outcome.profile = "encrypt", decision.profile.id
    if decision.format is _MULTIPART and facts.identity:  # rewritten as it streams: uncompressed
        # multipart is not read whole (multipart_stream.py); compressed takes the whole-body path
        stream = multipart_stream(request, facts, runtime, live, decision, outcome)
        declared = facts.content_length
        if declared is None or declared > runtime.settings.limits.max_body_bytes:
            return stream  # chunked to the origin: its length is known only at the end
        return b"".join([chunk async for chunk in stream])  # sent with its new Content-Length
    return await _rewrite(request, facts, runtime, live, decision, outcome)


async def _rewrite(
    request: web.BaseRequest,
    facts: RequestFacts,
    runtime: Runtime,
    live: Live,
    decision: Decision,
    outcome: Outcome,
) -> bytes:
    """Read the whole body, encrypt its protected values, and return what the origin gets."""
    limits, idle = runtime.settings.limits, runtime.settings.timeouts.client_idle
    coding = content_coding(facts.codings)
    raw = await read_limited(request.content, facts.content_length, limits.max_body_bytes, idle)
    outcome.body_bytes = len(raw)
    plain = decode(raw, coding, limits.max_body_bytes)
    started = time.perf_counter()
    try:
        content_type = facts.content_type or ""
        if decision.profile is not None and live.compiled.blocking(decision.profile):  # a token's HMAC
            rewritten, count = await live.compiled.off_the_loop(
                rewrite_body, decision, plain, content_type, live.compiled, limits
            )
        else:
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
        outcome.reason = Reason.CLIENT_IDLE_TIMEOUT
        raise


def _forwarded(request: web.BaseRequest, facts: RequestFacts, idle: float, outcome: Outcome) -> Body:
    """A body no profile applies to, passed on as it arrives: what has arrived is taken at once; when that
    is all of a body of declared length (the usual small form), it goes to the origin as bytes, in one
    write with the request head, else the rest is streamed (constant memory: at most what aiohttp buffers)."""
    content = request.content
    if facts.content_length is None or content.exception() is not None:
        return _stream(request, idle, outcome, b"")  # chunked, or already broken: streamed as ever
    arrived = content.read_nowait()
    if content.at_eof():
        return arrived
    return _stream(request, idle, outcome, arrived)


async def buffered(
    facts: RequestFacts, runtime: Runtime, budget: DiskBudget, outcome: Outcome, body: AsyncIterable[bytes]
) -> Body:
    """A streamed `body` read whole before any origin connection is taken, when request buffering is on
    (the caller passes only a stream: bytes and no body need no buffering)."""
    buffering = runtime.settings.buffering
    if not buffering.request:
        return body
    declared = facts.content_length if outcome.action == "forward" else None
    try:
        whole = await buffer_request(body, buffering, budget, declared)
    except ClientIdle:
        raise RequestRefused(Reason.CLIENT_IDLE_TIMEOUT, "the client stopped sending its body") from None
    runtime.metrics.count_buffered("request", isinstance(whole, SpooledBody))
    return whole
