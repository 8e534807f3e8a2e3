"""Stream a multipart/form-data body to the origin, rewriting it on the way (`multipart.MultipartRewriter`).

A multipart body under a profile is not read whole: each chunk from the client goes through the rewriter
and what it releases is sent on at once. Unprotected parts (file uploads, most of all) therefore pass in
constant memory, up to `MAX_STREAMED_BYTES` per request instead of the 1 MB a body read whole may have.
A protected part is still held until it is complete and encrypted, within its own limit (text parts
`Limits.max_field_bytes`, file parts `multipart.MAX_PROTECTED_FILE_BYTES`): the rewriter never releases a
byte of a protected part's plaintext, so the fail-closed rule holds mid-stream too.

What is checked before the first byte goes out (a clean 4xx, nothing sent): the boundary parameter, that
the profile reads multipart bodies, and a declared Content-Length over the limit. Anything refused later
(a malformed part, a protected part over its limit, too many protected parts, a body over the limit, an
idle client) is raised from the body generator; the origin client (origin_client/) then cuts the origin
connection and fails the request with BodyFailed caused by our RequestRefused, which `refusal_in` finds so
the client gets the refusal (not a 502). The origin may by then have seen the start of the body and a
connection that broke off before its end: a truncated upload, never a protected plaintext (if the refusal
comes before the first bytes were released, it sees nothing at all). An origin must treat an incomplete
body as a failed request (HTTP servers do: the chunked body has no final chunk).

Compressed multipart bodies (Content-Encoding gzip/deflate) are not streamed: they take the whole-body
path and its 1 MB limit. One that arrives with a Content-Length of at most that limit is rewritten by the
same generator but collected before it is sent (outbound.py), so the origin gets it with its new
Content-Length: origin servers that do not read chunked request bodies (Django's development server)
read it whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from fields.errors import Reason, RequestRefused
from fields.facts import RequestFacts
from fields.multipart import MultipartRewriter
from profiles import BodyFormat
from profiles.select import Decision

from .accesslog import Outcome
from .body import ClientIdle, idle_chunks, too_long
from .runtime import Live, Runtime

MAX_STREAMED_BYTES = 100 * 1024 * 1024  # bytes of one streamed multipart body, as sent by the client


def multipart_stream(
    request: web.BaseRequest,
    facts: RequestFacts,
    runtime: Runtime,
    live: Live,
    decision: Decision,
    outcome: Outcome,
) -> AsyncIterator[bytes]:
    """The rewritten body as a stream; RequestRefused now for what can be refused before sending."""
    profile = decision.profile
    assert profile is not None
    if BodyFormat.MULTIPART not in profile.reads:
        raise RequestRefused(
            Reason.PROFILE_FORMAT_MISMATCH, "the selected profile cannot read multipart bodies"
        )
    limit = MAX_STREAMED_BYTES
    if facts.content_length is not None and facts.content_length > limit:
        raise too_long(limit)
    selection, encrypt = live.compiled.bound(profile)  # compiled when the config loaded
    rewriter = MultipartRewriter(facts.content_type or "", selection, encrypt, runtime.settings.limits)
    # a token's HMAC: feed off the event loop
    off_loop = live.compiled.off_the_loop if live.compiled.blocking(profile) else None
    return _rewritten(request, rewriter, limit, runtime.settings.timeouts.client_idle, outcome, off_loop)


async def _rewritten(
    request: web.BaseRequest,
    rewriter: MultipartRewriter[Any],
    limit: int,
    idle: float,
    outcome: Outcome,
    off_loop: Callable[..., Awaitable[Any]] | None = None,
) -> AsyncIterator[bytes]:
    """`off_loop` given (CompiledConfig.off_the_loop): the rewriter is fed through it, in a thread."""
    size = 0
    try:
        async for chunk in idle_chunks(request.content, idle):
            size += len(chunk)
            if size > limit:
                raise too_long(limit)
            out = rewriter.feed(chunk) if off_loop is None else await off_loop(rewriter.feed, chunk)
            outcome.fields_encrypted = rewriter.encrypted
            if out:
                yield out
        tail = rewriter.close() if off_loop is None else await off_loop(rewriter.close)
        if tail:
            yield tail
    except ClientIdle:
        raise RequestRefused(Reason.CLIENT_IDLE_TIMEOUT, "the client stopped sending its body") from None
    except RequestRefused:
        raise
    except Exception as e:  # fail closed: whatever broke, the rest of the body does not go out
        raise RequestRefused(Reason.ENCRYPTION_FAILED, "a protected field could not be encrypted") from e
    finally:
        outcome.body_bytes = size


def refusal_in(error: BaseException) -> RequestRefused | None:
    """The RequestRefused that a streamed body raised, if it is what made the origin request fail."""
    seen: BaseException | None = error
    for _ in range(8):  # a short chain: OriginFailed <- BodyFailed <- RequestRefused
        if seen is None or isinstance(seen, RequestRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
