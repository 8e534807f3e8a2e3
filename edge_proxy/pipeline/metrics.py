"""Prometheus metrics of one proxy, in its own registry (never the process-wide default one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from fields.refusals import Reason

_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Rewriting a small body takes a tenth of a millisecond or so: buckets from 50 µs, so the histogram can tell
# 0.1 ms from 0.9 ms (the request buckets above start at 1 ms); to 1 s for the largest bodies.
_STEP_BUCKETS = (
    *(0.00005, 0.0001, 0.00025, 0.0005),
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


class Metrics:
    """Every series the proxy exports; labels hold codes and names, never request data."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "fle_proxy_requests",
            "Requests answered, by method, action and status class.",
            ("method", "action", "status"),
            registry=r,
        )
        self.fields_encrypted = Counter(
            "fle_proxy_fields_encrypted", "Protected field values encrypted.", registry=r
        )
        self.refusals = Counter(
            "fle_proxy_refusals", "Requests refused by the proxy, by reason code.", ("reason",), registry=r
        )
        self.origin_errors = Counter(
            "fle_proxy_origin_errors", "Failures talking to the origin, by kind.", ("kind",), registry=r
        )
        # isolation under slow clients (docs/reliability.md#isolation-under-slow-clients); the pool wait
        # running out and a full disk budget are refusals (reason OriginBusy, RequestBufferFull)
        self.connections_refused = Counter(
            "fle_proxy_connections_refused",
            "Client connections closed at once, by the limit they met (guards.py).",
            ("limit",),
            registry=r,
        )
        self.client_write_timeouts = Counter(
            "fle_proxy_client_write_timeouts",
            "Answers cut because one write waited for the client for the client write timeout.",
            registry=r,
        )
        self.buffered = Counter(
            "fle_proxy_buffered_bodies",
            "Request bodies and answers buffered, by direction and where they fit (memory, disk).",
            ("direction", "where"),
            registry=r,
        )
        self.duration = Histogram(
            "fle_proxy_request_duration_seconds",
            "Time from request to the end of the response, by action.",
            ("action",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.encrypt_duration = Histogram(
            "fle_proxy_encrypt_duration_seconds",
            "Time to rewrite one body (all its protected fields).",
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.messages_opened = Counter(
            "fle_proxy_messages_opened",
            "ESDK messages opened for field values, ahead of them (--messages-ahead) or inline (pool empty).",
            ("when",),
            registry=r,
        )
        # multiprocess_mode: how `fle proxy --workers N` adds up the workers' gauges (shared_metrics.py)
        self.in_flight = Gauge(
            "fle_proxy_in_flight_requests", "Requests being handled.", registry=r, multiprocess_mode="livesum"
        )
        self.reloads = Counter(
            "fle_proxy_config_reloads", "Configuration reloads, by result.", ("result",), registry=r
        )
        self.config_info = Gauge(
            "fle_proxy_config_loaded_timestamp_seconds",
            "When the active FLE config was loaded.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.loop_lag = Gauge(
            "fle_proxy_event_loop_lag_seconds",
            "How late the last event-loop probe timer fired (edge_proxy/pipeline/looplag.py).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.loop_lag_max = Gauge(
            "fle_proxy_event_loop_lag_max_seconds",
            "The latest any event-loop probe timer fired since the proxy started.",
            registry=r,
            multiprocess_mode="max",
        )
        self.loop_delay = Histogram(
            "fle_proxy_event_loop_delay_seconds",
            "How late each event-loop probe timer fired: stretches the loop served nothing else.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

        # labelled children, looked up once per label set (prometheus' labels() costs ~2 µs a call)
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self._refusals: dict[Reason, Counter] = {}
        self._origin_errors: dict[str, Counter] = {}
        self._buffered: dict[tuple[str, str], Counter] = {}
        self._opened = {when: self.messages_opened.labels(when) for when in ("ahead", "inline")}

    def count_request(self, method: str, action: str, status: int, seconds: float) -> None:
        """One answered request: `requests` and `duration`; the label values are few (codes and names)."""
        key = (method, action, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(method, action, str(status))
        counter.inc()
        histogram = self._durations.get(action)
        if histogram is None:
            histogram = self._durations[action] = self.duration.labels(action)
        histogram.observe(seconds)

    def count_refusal(self, reason: Reason) -> None:
        """One refusal; the label is the reason's code (fields.refusals: a fixed set), never request data."""
        counter = self._refusals.get(reason)
        if counter is None:
            counter = self._refusals[reason] = self.refusals.labels(reason.code)
        counter.inc()

    def count_origin_error(self, kind: str) -> None:
        """One failure talking to the origin; `kind` is one of OriginFailed's few kinds."""
        counter = self._origin_errors.get(kind)
        if counter is None:
            counter = self._origin_errors[kind] = self.origin_errors.labels(kind)
        counter.inc()

    def count_messages_opened(self, when: str, count: int) -> None:
        """`count` ESDK messages opened, `when` "ahead" (a pool's refill) or "inline" (its pool was empty)."""
        self._opened[when].inc(count)

    def count_connection_refused(self, limit: str) -> None:
        """A client connection closed at once by a connection limit (guards.py)."""
        self.connections_refused.labels(limit).inc()

    def count_buffered(self, direction: str, spilled: bool) -> None:
        """One body buffered ("request" or "response"), in memory or partly on disk."""
        self._count_buffered(direction, "disk" if spilled else "memory")

    def count_response_buffer(self, where: str) -> None:
        """One answer buffered, `where` ("memory" or "disk") as the relay tells it (forward.py)."""
        self._count_buffered("response", where)

    def _count_buffered(self, direction: str, where: str) -> None:
        key = (direction, where)
        counter = self._buffered.get(key)
        if counter is None:
            counter = self._buffered[key] = self.buffered.labels(direction, where)
        counter.inc()

    def exposition(self) -> bytes:
        """The text exposition format of every series."""
        return generate_latest(self.registry)
