"""The reveal listener's one handler: gate, read, decrypt off the loop, audit, forward, stream back.

Order matters: nothing is read before the caller, path and method pass (gate.py); nothing is sent before
every named field is decrypted and an audit line per value is written; a refusal at any step answers the
caller with a reason code and sends nothing upstream. Redirects from the upstream are passed back, never
followed; the upstream's answer is streamed back with its bytes unchanged (no decompression).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web
from yarl import URL

from decryptor import AuditLog, Decryptor
from edge_proxy import end_to_end, raw_path, read_limited
from fields.errors import Reason, RequestRefused
from fields.facts import RequestFacts

from . import audit, gate
from .errors import RevealRefused
from .fields import Revealed, RouteFields, reveal_body
from .metrics import NO_ROUTE, RevealMetrics
from .routes import RevealConfig, Route
from .settings import RevealSettings

log = logging.getLogger("fle.reveal")


def refusal(status: int, reason: str) -> web.Response:
    """The answer to a refused request: the reason code only (the detail is logged, never shown)."""
    headers = {"Proxy-Authenticate": 'Bearer realm="fle-reveal"'} if status == 407 else {}
    body = json.dumps({"error": reason}) + "\n"
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


_ROUTE = web.RequestKey("fle_reveal_route", str)  # the name of the route a request matched (a label)


class Reveal:
    """What the handler needs: routes, decryptor, audit, settings, metrics, the pooled session and decrypt
    threads; `in_flight` counts the requests being handled (drain waits for it to reach 0)."""

    def __init__(
        self,
        config: RevealConfig,
        decryptor: Decryptor,
        audit_log: AuditLog,
        settings: RevealSettings,
        metrics: RevealMetrics | None = None,
    ) -> None:
        self.config = config
        self.decryptor = decryptor
        self.audit = audit_log
        self.settings = settings
        self.metrics = metrics or RevealMetrics()
        self.in_flight = 0
        self.fields = {route.name: RouteFields.of(route) for route in config.routes}
        self.pool = ThreadPoolExecutor(settings.decrypt_threads, thread_name_prefix="fle-reveal")
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.settings.pool_size)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.settings.upstream_connect, sock_read=self.settings.upstream_read
        )
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        metrics = self.metrics
        self.in_flight += 1
        metrics.in_flight.inc()
        start = time.perf_counter()
        status = "aborted"  # the answer was cut (client gone, upstream ended early)
        try:
            try:
                response = await self._handle(request)
            except RevealRefused as e:
                path = raw_path(request.raw_path)[:200]  # never the query (nor a fragment): a value in it
                log.info("refused %s %s: %s %s", request.method, path, e.reason, e.detail)
                metrics.refusals.labels(e.reason.code).inc()
                response = refusal(e.status, e.reason)
            status = f"{response.status // 100}xx"
            return response
        finally:
            metrics.requests.labels(request.get(_ROUTE, NO_ROUTE), status).inc()
            metrics.duration.observe(time.perf_counter() - start)
            metrics.in_flight.dec()
            self.in_flight -= 1

    def _open(self, route: Route, body: bytes, content_type: str) -> tuple[bytes, list[Revealed]]:
        """reveal_body on a decrypt thread, timed there (not the wait for a free thread)."""
        start = time.perf_counter()
        try:
            return reveal_body(route, self.fields[route.name], self.decryptor, body, content_type,
                               self.settings.limits)  # fmt: skip
        finally:
            if route.names or route.pointers:
                self.metrics.decrypt_duration.observe(time.perf_counter() - start)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        caller = gate.authenticate(self.config, request.headers.get("Proxy-Authorization"))
        try:
            path, query = gate.check_target(request.raw_path)
        except RevealRefused as e:  # a caller trying to leave a route: audited, before anything is read
            route_name = gate.claimed_route(self.config, request.raw_path)
            audit.refused(self.audit, audit.request_id(), caller.name, route_name, e.reason, e.detail)
            raise
        route = gate.match(self.config, path, caller, request.method)
        request[_ROUTE] = route.name
        settings = self.settings
        facts = RequestFacts.from_head(  # the head read once (fields/facts.py)
            request.method, request.raw_path, request.headers,
            body=request.body_exists, content_length=request.content_length,
        )  # fmt: skip
        try:
            body = await read_limited(
                request.content, facts.content_length, settings.limits.max_body_bytes, settings.client_idle
            )
        except RequestRefused as e:
            raise RevealRefused(e.reason, e.detail, status=e.status) from None
        # the first Content-Encoding value only, as reveal has always read it (the edge reads them all)
        coding = facts.encodings[0].strip().lower() if facts.encodings else "identity"
        if body and coding != "identity" and (route.names or route.pointers):
            raise RevealRefused(Reason.UNSUPPORTED_CONTENT_ENCODING, "a revealed body must not be compressed")
        request_id = audit.request_id()
        content_type = facts.content_type or ""
        loop = asyncio.get_running_loop()
        try:
            body, revealed = await loop.run_in_executor(self.pool, self._open, route, body, content_type)
        except RevealRefused as e:
            audit.refused(self.audit, request_id, caller.name, route.name, e.reason, e.detail)
            raise
        audit.record(self.audit, "sending", request_id, caller.name, route.name, revealed)
        if revealed:
            self.metrics.values_revealed.labels(route.name).inc(len(revealed))
        # the rest of the path and the query, as sent (check_target refused any that could mean two things)
        target = str(route.upstream) + path[len(route.prefix) :] + (f"?{query}" if query else "")
        try:
            return await self._forward(request, route, target, body, revealed, request_id, caller.name)
        except RevealRefused as e:
            audit.record(self.audit, "failed", request_id, caller.name, route.name, revealed, reason=e.reason)
            raise

    async def _forward(
        self,
        request: web.Request,
        route: Route,
        target: str,
        body: bytes,
        revealed: list[Revealed],
        request_id: str,
        caller: str,
    ) -> web.StreamResponse:
        assert self.session is not None
        headers = end_to_end(request.headers)  # the edge's hop-by-hop rules, Proxy-Authorization included
        headers.popall("Host", None)
        headers.popall("Expect", None)
        try:
            upstream = await self.session.request(
                request.method,
                URL(target, encoded=True),
                data=body if body or request.method not in ("GET", "HEAD") else None,
                headers=headers,
                allow_redirects=False,
                # the route's verifying context (its ca_file or the system store); None only for http on
                # loopback (routes.py), where True changes nothing and would still verify were it https
                ssl=route.ssl_context if route.ssl_context is not None else True,
            )
        except TimeoutError:
            raise RevealRefused(Reason.UPSTREAM_TIMEOUT, f"{route.name}: no answer in time") from None
        except aiohttp.ClientError as e:
            raise RevealRefused(Reason.UPSTREAM_UNAVAILABLE, f"{route.name}: {type(e).__name__}") from None
        async with upstream:
            audit.record(self.audit, "answered", request_id, caller, route.name, revealed, upstream.status)
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            response.headers.extend(end_to_end(upstream.headers))
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (TimeoutError, aiohttp.ClientError):
                log.warning("upstream %s ended its answer early", route.name)
                raise
            await response.write_eof()
            return response


REVEAL = web.AppKey("reveal", Reveal)


def make_app(
    config: RevealConfig,
    decryptor: Decryptor,
    audit_log: AuditLog,
    settings: RevealSettings,
    metrics: RevealMetrics | None = None,
) -> web.Application:
    """The reveal application: one catch-all route, the session opened and closed with the app."""
    reveal = Reveal(config, decryptor, audit_log, settings, metrics)
    app = web.Application(client_max_size=settings.limits.max_body_bytes)
    app[REVEAL] = reveal

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await reveal.start()
        yield
        await reveal.close()

    app.cleanup_ctx.append(lifecycle)
    # every path reaches the gate, one whose decoded form holds a newline too (`.*` would stop there: 404)
    app.router.add_route("*", r"/{tail:[\s\S]*}", reveal.handle)
    return app
