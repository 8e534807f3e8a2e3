"""Header rules of a reverse proxy: what is hop-by-hop, what the origin is told about the client."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    )
)
_DROP = HOP_BY_HOP | {"content-length"}


def end_to_end(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """Copy `headers` without hop-by-hop ones, those named in Connection, and Content-Length."""
    connection = headers.getall("Connection", ())
    drop = _DROP
    if connection:  # headers named in Connection are hop-by-hop too
        drop = _DROP | {token.strip().lower() for value in connection for token in value.split(",")}
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def request_headers(
    headers: CIMultiDictProxy[str], *, client_ip: str | None, scheme: str, host: str | None
) -> CIMultiDict[str]:
    """Headers to send to the origin: end-to-end ones, Host dropped, X-Forwarded-* appended."""
    out = end_to_end(headers)
    out.popall("Host", None)
    out.popall("Expect", None)  # 100-continue was answered to the client already; the origin gets the body
    if client_ip:
        prior = headers.get("X-Forwarded-For")
        out["X-Forwarded-For"] = f"{prior}, {client_ip}" if prior else client_ip
    out["X-Forwarded-Proto"] = scheme
    if host:
        out["X-Forwarded-Host"] = host
    return out
