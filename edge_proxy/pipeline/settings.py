"""What the proxy needs to run, built once at start-up (and again, validated, on reload)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from blindindex.keys import IndexKeys
from edge_proxy.encrypting.openings import DEFAULT_AHEAD
from edge_proxy.serving.guards import ClientLimits
from fields.limits import Limits
from profiles import FleConfig

from .buffering import Buffering


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the FLE config came from, so that it can be read again on SIGHUP."""

    directory: Path
    config_id: str | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits, in seconds; each breach ends the request instead of holding a connection open."""

    origin_connect: float = 10.0  # to open a connection to the origin (CloudFront: 1-10 s)
    origin_read: float = 30.0  # of silence from the origin once the request is sent (CloudFront: 30 s)
    client_idle: float = 60.0  # of silence from the client while reading its body, and between requests
    shutdown: float = 30.0  # granted to in-flight requests after SIGTERM
    # waiting for a free origin connection when all pool_size are in use; then 503 OriginBusy
    origin_wait: float = 5.0
    # one write of the answer waiting for the client to read (nginx's send_timeout: 60 s); then it is cut
    client_write: float = 60.0

    def __post_init__(self) -> None:
        names = ("origin_connect", "origin_read", "client_idle", "shutdown", "origin_wait", "client_write")
        for name in names:
            if not getattr(self, name) > 0:
                raise ValueError(f"timeout {name} must be greater than 0 seconds")


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """What the proxy needs to run; built once at start-up."""

    origin: URL
    config: FleConfig
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    source: ConfigSource | None = None  # None: the config cannot be reloaded
    pool_size: int = 256  # pooled keep-alive connections to the origin
    client: ClientLimits = field(default_factory=ClientLimits)  # header size/count/time, connections
    buffering: Buffering = field(default_factory=Buffering)  # request bodies and answers (buffering.py)
    index_keys: IndexKeys | None = None  # blind indexes' keys (--index-keys); read once, at start
    # ESDK messages opened ahead per public key and suite (--messages-ahead; encrypting/openings.py)
    messages_ahead: int = DEFAULT_AHEAD

    def __post_init__(self) -> None:
        if self.messages_ahead < 0:
            raise ValueError("--messages-ahead must be 0 (off) or more")
