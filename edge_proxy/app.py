"""The reverse proxy as an aiohttp application: select a profile, encrypt protected fields, forward.

The security rule lives in `_forward_body`: a body that a profile applies to is read whole and rewritten
before a single byte goes to the origin; if anything on that path fails, the request is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

from profiles import QUERY_ARG_NAME, Action, FleConfig, select

from .bodies import rewrite_body
from .encryptor import FieldEncryptor
from .errors import RequestRefused
from .headers import end_to_end, request_headers
from .limits import Limits

log = logging.getLogger("edge_proxy")

_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """What the proxy needs to run; built once at start-up."""

    origin: URL
    config: FleConfig
    limits: Limits = field(default_factory=Limits)
    connect_timeout: float = 10.0  # seconds to open a connection to the origin
    read_timeout: float = 60.0  # seconds of silence tolerated from the origin


@dataclass(frozen=True, slots=True)
class _State:
    settings: ProxySettings
    encryptor: FieldEncryptor


STATE = web.AppKey("state", _State)
SESSION = web.AppKey("session", aiohttp.ClientSession)


def _refusal(refused: RequestRefused) -> web.Response:
    body = json.dumps({"error": refused.reason, "message": refused.detail})
    return web.Response(status=refused.status, text=body, content_type="application/json")


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RequestRefused(400, "RequestLengthLimitClientError", f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise RequestRefused(400, "RequestLengthLimitClientError", f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _forward_body(request: web.Request, state: _State) -> bytes | aiohttp.StreamReader | None:
    """The body to send: None (none), the request stream (no profile applies), or rewritten bytes."""
    if not request.body_exists:
        return None
    decision = select(
        state.settings.config, request.headers.get("Content-Type"), request.query.get(QUERY_ARG_NAME)
    )
    if decision.action is Action.REJECT:
        raise RequestRefused(
            400, decision.reason or "Rejected", "no field-level encryption profile accepts it"
        )
    if decision.action is Action.FORWARD:
        return request.content
    assert decision.profile is not None
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise RequestRefused(415, "UnsupportedContentEncoding", "compressed bodies cannot be field-encrypted")
    body = await _read_limited(request, state.settings.limits.max_body_bytes)
    content_type = request.headers.get("Content-Type", "")
    try:
        rewritten, count = rewrite_body(decision, body, content_type, state.encryptor, state.settings.limits)
    except RequestRefused:
        raise
    except Exception as e:  # fail closed: whatever broke, the body does not go out
        log.error("field encryption failed: %s", type(e).__name__)
        raise RequestRefused(500, "EncryptionFailed", "a protected field could not be encrypted") from e
    log.debug("encrypted %d field(s) with profile %s", count, decision.profile.id)
    return rewritten


async def handle(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        body = await _forward_body(request, state)
    except RequestRefused as refused:
        log.info("refused %s %s: %s", request.method, request.path, refused.reason)
        return _refusal(refused)

    origin = state.settings.origin
    target = URL(str(origin).rstrip("/") + request.rel_url.raw_path_qs, encoded=True)
    headers = request_headers(
        request.headers, client_ip=request.remote, scheme=request.scheme, host=request.host
    )
    try:
        upstream = await request.app[SESSION].request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        )
    except TimeoutError:
        return web.Response(status=504, text="origin timed out\n")
    except aiohttp.ClientError as e:
        log.warning("origin request failed: %s", type(e).__name__)
        return web.Response(status=502, text="origin unreachable\n")

    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(end_to_end(upstream.headers))
        if upstream.content_length is not None and "chunked" not in upstream.headers.get(
            "Transfer-Encoding", ""
        ):
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError) as e:
            log.warning("origin response broke off: %s", type(e).__name__)
            request.transport and request.transport.close()  # type: ignore[func-returns-value]
            return response
        await response.write_eof()
        return response


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    settings = app[STATE].settings
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
    )
    async with aiohttp.ClientSession(
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=_SKIP_AUTO_HEADERS,
        connector=aiohttp.TCPConnector(limit=256),
    ) as session:
        app[SESSION] = session
        yield


def build_app(settings: ProxySettings) -> web.Application:
    """The proxy application; every path and method goes to `handle`."""
    app = web.Application()
    app[STATE] = _State(settings=settings, encryptor=FieldEncryptor(settings.config))
    app.cleanup_ctx.append(_client_session)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
