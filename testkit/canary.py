"""The canary origin: an aiohttp app that records what reaches it and flags any protected plaintext it sees
(raw, percent-encoded, or inside a gzip/deflate body). The proxy tests' origin, and the soak's."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

import aiohttp
from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # the first 4 MiB; `size` has the full length
    size: int
    peer_port: int | None


@dataclass
class Canary:
    """An origin that records what it gets and refuses to ever see a protected plaintext."""

    url: str = ""
    plaintexts: set[bytes] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    aborted: int = 0  # request bodies that broke off before their end

    def protect(self, *values: str | bytes) -> None:
        for value in values:
            self.plaintexts.add(value.encode() if isinstance(value, str) else value)

    def _forms(self) -> set[bytes]:
        out = set()
        for p in self.plaintexts:
            for safe in ("/", ""):
                quoted = quote_from_bytes(p, safe=safe)
                out |= {p, quoted.encode(), quoted.replace("%20", "+").encode()}
        return {o for o in out if o}

    def check(self, what: str, data: bytes) -> None:
        for needle in self._forms():
            if needle in data:
                self.violations.append(f"protected value {needle[:40]!r} reached the origin in {what}")

    @property
    def last(self) -> Received:
        return self.received[-1]


async def _read_and_check(canary: Canary, request: web.Request) -> tuple[bytes, int]:
    needles = canary._forms()
    width = max((len(n) for n in needles), default=1)
    kept: list[bytes] = []
    kept_size = size = 0
    tail = b""
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        window = tail + chunk
        canary.check(f"{request.method} {request.path} body", window)
        tail = window[-width:]
        if kept_size < 4 * 1024 * 1024:
            kept.append(chunk)
            kept_size += len(chunk)
    body = b"".join(kept)
    coding = request.headers.get("Content-Encoding", "").lower()
    if coding in ("gzip", "deflate") and size == kept_size:
        try:
            wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
            canary.check(f"{request.method} {request.path} decoded body", zlib.decompress(body, wbits))
        except zlib.error:
            canary.violations.append("the origin got a compressed body it cannot decode")
    return body, size


def canary_app(canary: Canary) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body, size = await _read_and_check(canary, request)
        except (ConnectionError, asyncio.CancelledError, web.HTTPException, aiohttp.ClientPayloadError):
            canary.aborted += 1
            raise
        peer = request.transport.get_extra_info("peername") if request.transport else None
        canary.received.append(
            Received(request.method, request.path_qs, dict(request.headers), body, size, peer and peer[1])
        )
        if request.path.startswith("/slow/"):
            await asyncio.sleep(float(request.path.rsplit("/", 1)[1]))
        if request.path.startswith("/stream/"):
            response = web.StreamResponse(headers={"X-Origin": "canary"})
            await response.prepare(request)
            for _ in range(int(request.path.rsplit("/", 1)[1])):
                await response.write(b"x" * 65536)
            await response.write_eof()
            return response
        summary = {"method": request.method, "size": size, "content_type": request.content_type}
        return web.json_response(summary, headers={"X-Origin": "canary", "Connection": "keep-alive"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
