"""Prometheus metrics of one reveal process, in its own registry (never the process-wide default one).

Labels hold route names, status classes and reason codes, never request data. With `fle reveal --workers N`
every worker writes these into one run's files and the parent's /metrics adds them up
(edge_proxy/serving/shared_metrics.py): the registry must be made after the fork, in the worker.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# opening one value takes a fraction of a millisecond (file backend) to a few (an HSM): from 50 µs to 1 s
_DECRYPT_BUCKETS = (
    *(0.00005, 0.0001, 0.00025, 0.0005),
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
NO_ROUTE = "-"  # the route label of a request refused before a route matched it


class RevealMetrics:
    """Every series reveal exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "fle_reveal_requests",
            "Requests answered, by route ('-' before one matched) and status class.",
            ("route", "status"),
            registry=r,
        )
        self.refusals = Counter(
            "fle_reveal_refusals", "Requests refused by reveal, by reason code.", ("reason",), registry=r
        )
        self.values_revealed = Counter(
            "fle_reveal_values_revealed", "Field values decrypted and sent upstream, by route.", ("route",),
            registry=r,
        )  # fmt: skip
        self.decrypt_duration = Histogram(
            "fle_reveal_decrypt_duration_seconds",
            "Time to open one request's body (every value it reveals), off the event loop.",
            buckets=_DECRYPT_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "fle_reveal_request_duration_seconds",
            "Time from request to the end of the response.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # multiprocess_mode: how `fle reveal --workers N` adds up the workers' gauge (shared_metrics.py)
        self.in_flight = Gauge(
            "fle_reveal_in_flight_requests", "Requests being handled.", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self._requests: dict[tuple[str, str], Counter] = {}
        self._revealed: dict[str, Counter] = {}

    def request_counter(self, route: str, status: str) -> Counter:
        """`requests` of this route and status class, looked up once (labels() costs about 1 µs a call,
        the child's inc() a third of that); routes and status classes are a few, known at start."""
        try:
            return self._requests[route, status]
        except KeyError:
            child = self._requests[route, status] = self.requests.labels(route, status)
            return child

    def revealed_counter(self, route: str) -> Counter:
        """`values_revealed` of this route, looked up once."""
        try:
            return self._revealed[route]
        except KeyError:
            child = self._revealed[route] = self.values_revealed.labels(route)
            return child

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
