"""The reverse proxy (`Proxy`, served by aiohttp's low-level server): one request from its head to the
origin and back.

A request's way, by module: its facts are read once (fields/facts.py), head.py checks the head
(Connection, Expect); outbound.py decides what body goes to the origin (select a profile, encrypt
protected fields, or pass it on; refused when anything on the encrypting path fails); forward.py sends
it and relays the answer;
answers.py holds the answers the edge gives itself (a refusal, no origin answer). This module ties them
together and counts and logs every request.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from aiohttp import web

from edge_proxy.origin_client.pool import OriginPool
from fields.errors import Reason, RequestRefused
from fields.facts import RequestFacts

from .accesslog import Outcome
from .answers import failed, refuse
from .buffering import DiskBudget, SpooledBody
from .forward import OriginFailed, relay, send, session_for, target_url
from .head import expect, nominated, websocket
from .headers import request_headers
from .looplag import lag_watch
from .outbound import body_to_send, buffered
from .runtime import Runtime
from .settings import ProxySettings


async def _proxy(
    request: web.BaseRequest, runtime: Runtime, session: OriginPool, outcome: Outcome, budget: DiskBudget
) -> web.StreamResponse:
    live = runtime.live  # one config for the whole request, even if a reload happens meanwhile
    facts = RequestFacts.from_head(  # the head read once, in one call: every stage below reads these
        request.method,
        request.raw_path,
        request.headers,
        body=request.body_exists,
        content_length=request.content_length,
    )
    try:
        body = await body_to_send(request, facts, runtime, live, outcome)
        if body is not None and not isinstance(body, bytes):
            body = await buffered(facts, runtime, budget, outcome, body)
    except RequestRefused as refused:
        return refuse(refused, outcome)
    try:
        headers = request_headers(
            request.headers, client_ip=request.remote, scheme=request.scheme, host=request.host
        )
        if isinstance(body, SpooledBody):
            headers["Content-Length"] = str(body.length)  # read whole: its length is known
        elif outcome.action == "forward" and body is not None and facts.content_length is not None:
            headers["Content-Length"] = str(facts.content_length)  # streamed as sent, not re-chunked
        try:
            upstream = await send(session, request, target_url(session, request), headers, body)
        except OriginFailed as failure:
            return failed(failure, outcome)
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
            refused = nominated(request) if "Connection" in request.headers else None
            if refused is None and "Expect" in request.headers:
                refused = await expect(request)
            if refused is not None:
                response: web.StreamResponse = refuse(refused, outcome)  # counted and logged as any
            else:
                response = await _proxy(request, runtime, session, outcome, self.budget)
                if "Upgrade" in request.headers and not websocket(request):
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
            if outcome.action == "refuse" and isinstance(outcome.reason, Reason):
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
