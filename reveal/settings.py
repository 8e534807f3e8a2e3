"""Reveal's limits and timeouts: the edge's (fields.limits, settings.Timeouts) with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_proxy import ClientLimits
from fields.limits import Limits


@dataclass(frozen=True, slots=True)
class RevealSettings:
    """Body and field limits, client and upstream timeouts (seconds), pool and decrypt thread sizes."""

    limits: Limits = field(default_factory=Limits)
    # no per-address cap: reveal's callers are a few application servers, each with its bearer token, and
    # one busy server would meet the edge's cap (meant for anonymous clients) long before max_connections
    client: ClientLimits = field(default_factory=lambda: ClientLimits(max_client_connections=0))
    client_idle: float = 60.0  # of silence from the client while its body is read
    upstream_connect: float = 10.0  # to open a connection (and TLS) to the upstream
    upstream_read: float = 30.0  # of silence from the upstream once the request is sent
    upstream_wait: float = 5.0  # for a free upstream connection when pool_size are in use; then 503
    client_write: float = 60.0  # one write of the answer waiting this long for the caller cuts the connection
    pool_size: int = 64  # keep-alive connections in use at once per route (edge_proxy.OriginPool; more wait)
    decrypt_threads: int = 8  # values decrypted at once, off the event loop

    def __post_init__(self) -> None:
        for name in ("client_idle", "upstream_connect", "upstream_read", "upstream_wait", "client_write"):
            if not getattr(self, name) > 0:
                raise ValueError(f"timeout {name} must be greater than 0 seconds")
        if self.pool_size < 1 or self.decrypt_threads < 1:
            raise ValueError("pool_size and decrypt_threads must be at least 1")
