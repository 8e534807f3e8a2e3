"""One JSON line per request on the `edge_proxy.access` logger.

What a line may hold is fixed here: method, path (never the query string, which can carry data), status,
what the proxy did, the profile id, the reason code of a refusal, counts, sizes and times. Nothing from a
body or a header value is ever written, so no protected value can reach a log.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, fields

from aiohttp import web

log = logging.getLogger("edge_proxy.access")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(slots=True)
class Outcome:
    """Filled in as a request goes through the proxy; turned into the log line and the metrics."""

    method: str
    path: str
    remote: str | None
    scheme: str
    started: float = field(default_factory=time.monotonic)
    status: int = 0
    action: str = "none"  # encrypt | forward | refuse | none (no body)
    profile: str | None = None
    reason: str | None = None
    fields_encrypted: int = 0
    body_bytes: int | None = None  # bytes read when the body was read whole
    origin_status: int | None = None
    origin_error: str | None = None

    @classmethod
    def of(cls, request: web.BaseRequest) -> Outcome:
        return cls(method=request.method, path=request.path, remote=request.remote, scheme=request.scheme)

    @property
    def method_label(self) -> str:
        return self.method if self.method in KNOWN_METHODS else "OTHER"

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def emit(self) -> None:
        if not log.isEnabledFor(logging.INFO):  # `--access-log off`: build no line at all (~30 µs)
            return
        record = {k: v for k in _LOGGED if (v := getattr(self, k)) is not None}
        record["duration_ms"] = round(self.seconds() * 1000, 3)
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.info(json.dumps(record, separators=(",", ":")))


_LOGGED = tuple(f.name for f in fields(Outcome) if f.name != "started")  # in declaration order, as before
