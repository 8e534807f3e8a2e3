"""One JSON line per request on the `edge_proxy.access` logger.

What a line may hold is fixed here: method, path (never the query string, which can carry data), status,
what the proxy did, the profile id, the reason code of a refusal, counts, sizes and times. Nothing from a
body or a header value is ever written, so no protected value can reach a log.

The path is the request target as received, up to its `?` (or a `#`, which no client should send), never
decoded: `/s%3Fphone%3D1` is written as it came, not as `/s?phone=1`, which would read as a query that was
not sent; json.dumps escapes any control character, so a line is one line.
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
    target: str  # the request target as received: its path is logged (`raw_path`), computed only then
    remote: str | None
    scheme: str
    started: float = field(default_factory=time.monotonic)
    status: int = 0
    action: str = "none"  # encrypt | forward | refuse | none (no body)
    profile: str | None = None
    reason: str | None = None  # a refusal's fields.refusals.Reason (its code); or ClientWriteTimeout
    fields_encrypted: int = 0
    body_bytes: int | None = None  # bytes read when the body was read whole
    origin_status: int | None = None
    origin_error: str | None = None

    @classmethod
    def of(cls, request: web.BaseRequest) -> Outcome:
        return cls(method=request.method, target=request.raw_path, remote=request.remote,
                   scheme=request.scheme)  # fmt: skip

    @property
    def method_label(self) -> str:
        return self.method if self.method in KNOWN_METHODS else "OTHER"

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def emit(self) -> None:
        if not log.isEnabledFor(logging.INFO):  # `--access-log off`: build no line at all (~30 µs)
            return
        record: dict[str, object] = {"method": self.method, "path": raw_path(self.target)}  # only if written
        record.update((k, v) for k in _LOGGED if (v := getattr(self, k)) is not None)
        record["duration_ms"] = round(self.seconds() * 1000, 3)
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log.info(json.dumps(record, separators=(",", ":")))


def raw_path(target: str) -> str:
    """The path of a raw request target: everything before its query (or fragment), not decoded.

    An absolute-form target (`http://user:pw@host/p`) loses its scheme and authority (credentials).
    """
    scheme, sep, rest = target.partition("://")
    if sep and not scheme.startswith("/"):
        target = "/" + rest.partition("/")[2]
    end = len(target)
    for mark in ("?", "#"):
        found = target.find(mark, 0, end)
        if found >= 0:
            end = found
    return target[:end]


# after method and path, in declaration order, as before
_LOGGED = tuple(f.name for f in fields(Outcome) if f.name not in ("method", "target", "started"))
