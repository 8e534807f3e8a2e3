"""The reveal listener's one handler: gate, read, decrypt, audit, forward, stream back.

Order matters: nothing is read before the caller, path and method pass (gate.py); nothing is sent before
every named field is decrypted and an audit line per value is written; a refusal at any step answers the
caller with a reason code and sends nothing upstream. Redirects from the upstream are passed back, never
followed; the upstream's answer is streamed back with its bytes unchanged (no decompression).

The upstream client is the edge's pooled HTTP/1.1 client (`edge_proxy.OriginPool`, one pool per route):
it sends the headers it is given and nothing else (no User-Agent, Accept or Accept-Encoding of its own),
never follows a redirect and never decompresses.

`Reveal` is served as the edge's proxy is: a service of aiohttp's low-level server (`edge_proxy.start_site`),
with no Application, router or middleware between the connection and `Reveal.handle` (reveal had one
catch-all route, so the router only added work per request). What the router did that reveal needs is
done in `_handle` with the edge's own check (`edge_proxy.expect`): `Expect: 100-continue` answered, another
expectation refused (417 ExpectationFailed, counted and logged as every refusal), before the gate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web
from multidict import CIMultiDict

from decryptor import AuditLog, Decryptor
from edge_proxy import (
    OriginPool,
    PoolBusy,
    UpstreamError,
    UpstreamTimeout,
    answer_to,
    end_to_end,
    expect,
    raw_path,
    read_limited,
    stream_answer,
)
from fields.errors import Reason, RequestRefused
from fields.facts import RequestFacts

from . import audit, gate
from .errors import RevealRefused
from .fields import Revealed, RouteFields, reveal_body
from .metrics import NO_ROUTE, RevealMetrics
from .routes import RevealConfig, Route
from .settings import RevealSettings
from .threads import DecryptThreads

log = logging.getLogger("fle.reveal")


def refusal(status: int, reason: str) -> web.Response:
    """The answer to a refused request: the reason code only (the detail is logged, never shown)."""
    headers = {"Proxy-Authenticate": 'Bearer realm="fle-reveal"'} if status == 407 else {}
    body = json.dumps({"error": reason}) + "\n"
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


_NO_BODY_EXPECTED = ("GET", "HEAD")  # an empty body of these is sent as no body at all


class _Cut(Exception):
    """The answer was cut partway (its head already sent): `handle` returns it, counted as aborted."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response


class Reveal:
    """The service `start_site` serves (edge_proxy.Service): routes, decryptor, audit, settings, metrics,
    the upstream pools and decrypt threads; `in_flight` counts the requests being handled (drain waits for
    it to reach 0)."""

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
        self.threads = DecryptThreads(settings.decrypt_threads)
        self.upstreams: dict[str, OriginPool] = {}

    async def start(self) -> None:
        self.threads.start(asyncio.get_running_loop())
        try:
            for route in self.config.routes:
                self.upstreams[route.name] = OriginPool(
                    route.upstream,
                    size=self.settings.pool_size,
                    connect_timeout=self.settings.upstream_connect,
                    read_timeout=self.settings.upstream_read,
                    wait_timeout=self.settings.upstream_wait,
                    ssl_context=route.ssl_context,
                )
        except BaseException:  # start_site stops only a service that started: leave no thread behind
            await self.stop()
            raise

    async def stop(self) -> None:
        try:
            for upstream in self.upstreams.values():
                await upstream.close()
        finally:  # the decrypt threads are told to stop whatever a pool's close raised
            self.threads.stop()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        metrics = self.metrics
        self.in_flight += 1
        metrics.in_flight.inc()
        start = time.perf_counter()
        status = "aborted"  # the answer was cut (client gone, upstream ended early)
        matched: list[str] = []  # the name of the route the request matched, once it has (a label)
        try:
            try:
                response = await self._handle(request, matched)
            except _Cut as cut:  # counted as "aborted", not by the status its head went out with
                return cut.response
            except RevealRefused as e:
                path = raw_path(request.raw_path)[:200]  # never the query (nor a fragment): a value in it
                log.info("refused %s %s: %s %s", request.method, path, e.reason, e.detail)
                metrics.refusals.labels(e.reason.code).inc()
                response = refusal(e.status, e.reason)
            status = f"{response.status // 100}xx"
            return response
        finally:
            metrics.request_counter(matched[0] if matched else NO_ROUTE, status).inc()
            metrics.duration.observe(time.perf_counter() - start)
            metrics.in_flight.dec()
            self.in_flight -= 1

    def _open(self, route: Route, body: bytes, content_type: str) -> tuple[bytes, list[Revealed]]:
        """reveal_body on a decrypt thread, timed there (not the wait for a free thread). Only for a route
        that reveals something: one that reveals nothing skips the hand-off to a thread and back (two GIL
        hand-offs and a wake-up of the loop per request)."""
        start = time.perf_counter()
        try:
            return reveal_body(route, self.fields[route.name], self.decryptor, body, content_type,
                               self.settings.limits)  # fmt: skip
        finally:
            self.metrics.decrypt_duration.observe(time.perf_counter() - start)

    async def _handle(self, request: web.BaseRequest, matched: list[str]) -> web.StreamResponse:
        caller = gate.authenticate(self.config, request.headers.get("Proxy-Authorization"))
        try:
            path, query = gate.check_target(request.raw_path)
        except RevealRefused as e:  # a caller trying to leave a route: audited, before anything is read
            route_name = gate.claimed_route(self.config, request.raw_path)
            audit.refused(self.audit, audit.request_id(), caller.name, route_name, e.reason, e.detail)
            raise
        route = gate.match(self.config, path, caller, request.method)
        matched.append(route.name)
        # only a caller, path and method that passed are told to send their body (100 Continue)
        if request.headers.get("Expect"):  # the edge's check
            refused = await expect(request)
            if refused is not None:
                raise RevealRefused(refused.reason, refused.detail, status=refused.status)
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
        revealed: list[Revealed] = []
        try:
            if route.names or route.pointers:  # a route that reveals nothing forwards the body as it came
                body, revealed = await self.threads.run(self._open, route, body, content_type)
        except RevealRefused as e:
            audit.refused(self.audit, request_id, caller.name, route.name, e.reason, e.detail)
            raise
        audit.record(self.audit, "sending", request_id, caller.name, route.name, revealed)
        if revealed:
            self.metrics.revealed_counter(route.name).inc(len(revealed))
        # the rest of the path and the query, as sent (check_target refused any that could mean two things)
        target = route.upstream.raw_path + path[len(route.prefix) :] + (f"?{query}" if query else "")
        try:
            return await self._forward(request, route, target, body, revealed, request_id, caller.name)
        except RevealRefused as e:
            audit.record(self.audit, "failed", request_id, caller.name, route.name, revealed, reason=e.reason)
            raise

    async def _forward(
        self,
        request: web.BaseRequest,
        route: Route,
        target: str,
        body: bytes,
        revealed: list[Revealed],
        request_id: str,
        caller: str,
    ) -> web.StreamResponse:
        upstreams = self.upstreams[route.name]
        # the edge's hop-by-hop rules, Proxy-Authorization included
        headers: CIMultiDict[str] = end_to_end(request.headers)
        headers.popall("Host", None)  # the upstream's, written by the pool
        headers.popall("Expect", None)
        method = request.method
        try:
            # TLS with the route's verifying context (its ca_file or the system store); plain http only
            # on loopback (routes.py)
            upstream = await upstreams.request(
                method, target, headers, body if body or method not in _NO_BODY_EXPECTED else None
            )
        except PoolBusy:
            raise RevealRefused(Reason.UPSTREAM_BUSY, f"{route.name}: every connection in use") from None
        except UpstreamTimeout:
            raise RevealRefused(Reason.UPSTREAM_TIMEOUT, f"{route.name}: no answer in time") from None
        except UpstreamError as e:
            raise RevealRefused(Reason.UPSTREAM_UNAVAILABLE, f"{route.name}: {type(e).__name__}") from None
        try:
            audit.record(self.audit, "answered", request_id, caller, route.name, revealed, upstream.status)
            response = answer_to(request, upstream)  # the edge's: one write when all here, else streamed
            if isinstance(response, web.Response):
                return response
            write_timeout = self.settings.client_write
            cut = await stream_answer(request, response, upstream.read, write_timeout)
            if cut is None:
                return response
            if isinstance(cut, UpstreamError):  # as the edge: the connection closed, counted as cut
                log.warning("upstream %s ended its answer early", route.name)
            else:  # a caller not reading holds no upstream connection for ever
                log.warning("caller on route %s read nothing for %s s: cut", route.name, write_timeout)
            raise _Cut(response)
        finally:
            upstream.close()  # an answer not read to its end cuts its connection (never reused)
