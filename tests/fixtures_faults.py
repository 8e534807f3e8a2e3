"""Real network peers that misbehave on purpose, for the fault-injection tests (docs/reliability.md).

- `FaultyOrigin`: a raw asyncio HTTP/1.1 server on a free loopback port whose path picks the fault:
  `/ok`, `/close` (accepts, reads, closes without a word), `/garbage` (answers something that is not
  HTTP), `/slow-headers/S` (silent for S seconds before the status line), `/slow-body/S` (headers and
  half the body, then silent for S seconds), `/reset` (headers and half the body, then a TCP RST).
  It is written on raw sockets because aiohttp, as a server, will not send half a response or a RST.
- `AwsFaults`: a loopback HTTP proxy in front of a real AWS-API server (moto for SSM, dynalite for
  DynamoDB). moto never throttles and dynalite never runs out of capacity, so this peer answers the
  AWS error a test asks for (ThrottlingException, ProvisionedThroughputExceededException, 500s) for the
  first N calls of one operation, or forwards a call and then cuts the connection before the answer
  (the write lands, the caller never hears of it). Every other call is forwarded unchanged. boto3 runs
  unmodified: it sees a real HTTP peer, parses real error bodies and applies its own retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from edge_proxy import start_site
from testkit.serving import serving_raw

# --- an origin that breaks the exchange -----------------------------------------------------------------


@dataclass
class FaultyOrigin:
    url: str = ""
    requests: list[str] = field(default_factory=list)  # request lines, in arrival order
    resets: int = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *header_lines = head.decode("latin-1").split("\r\n")
            length = 0
            for header in header_lines:
                name, _, value = header.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            self.requests.append(line)
            path = line.split(" ")[1]
            await self._answer(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        kind, _, arg = path.strip("/").partition("/")
        body = b"0123456789" * 100
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        if kind == "ok":
            writer.write(head + body)
        elif kind == "close":
            return
        elif kind == "garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        elif kind == "slow-headers":
            await asyncio.sleep(float(arg))
            writer.write(head + body)
        elif kind == "slow-body":
            writer.write(head + body[:500])
            await writer.drain()
            await asyncio.sleep(float(arg))
            writer.write(body[500:])
        elif kind == "reset":
            writer.write(head + body[:500])
            await writer.drain()
            await asyncio.sleep(0.05)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.resets += 1
            writer.transport.abort()  # SO_LINGER 0: the kernel sends RST, not FIN
            return
        await writer.drain()


@contextlib.asynccontextmanager
async def faulty_origin() -> AsyncIterator[FaultyOrigin]:
    origin = FaultyOrigin()
    async with serving_raw(origin._handle) as origin.url:
        yield origin


# --- a fault-injecting proxy in front of moto or dynalite ------------------------------------------------


@dataclass
class Fault:
    """What to do with the first `times` calls of `operation` (an X-Amz-Target such as
    "AmazonSSM.GetParameter" or "DynamoDB_20120810.PutItem"): answer `status` with AWS error `code`,
    or, with code "lose-answer", forward the call and cut the connection before the answer."""

    operation: str
    code: str
    times: int
    status: int = 400
    used: int = 0


@dataclass
class AwsFaults:
    upstream: str
    url: str = ""
    faults: list[Fault] = field(default_factory=list)  # applied in order, each for its `times` calls
    calls: dict[str, int] = field(default_factory=dict)  # every call that arrived, by operation

    def inject(self, operation: str, code: str, times: int, status: int = 400) -> None:
        self.faults.append(Fault(operation, code, times, status))

    def _fault_for(self, operation: str) -> Fault | None:
        for fault in self.faults:
            if fault.operation == operation and fault.used < fault.times:
                fault.used += 1
                return fault
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        operation = request.headers.get("X-Amz-Target", request.method)
        self.calls[operation] = self.calls.get(operation, 0) + 1
        body = await request.read()
        fault = self._fault_for(operation)
        if fault is not None and fault.code != "lose-answer":
            error = {"__type": f"com.amazonaws.fault#{fault.code}", "message": "injected by AwsFaults"}
            return web.Response(
                status=fault.status, text=json.dumps(error), content_type="application/x-amz-json-1.0"
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as answer:
                payload = await answer.read()
                if fault is not None:  # lose-answer: the call reached the server; its answer never leaves
                    assert request.transport is not None
                    request.transport.abort()
                    return web.Response(status=500)
                kept = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection")
                }
                return web.Response(status=answer.status, body=payload, headers=kept)


@contextlib.asynccontextmanager
async def aws_faults(upstream: str) -> AsyncIterator[AwsFaults]:
    """An AwsFaults proxy in front of `upstream` (e.g. the moto or dynalite URL) on a free loopback port."""
    faults = AwsFaults(upstream.rstrip("/"))
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", faults.handle)
    runner, faults.url = await start_site(app, "127.0.0.1", 0)
    try:
        yield faults
    finally:
        await runner.cleanup()
