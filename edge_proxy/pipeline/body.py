"""Reading request bodies: whole (bounded) when a profile applies, streamed when none does.

Both ways a client that goes silent for longer than the idle timeout ends its request. Compressed bodies
(`Content-Encoding: gzip`, `x-gzip`, `deflate`) are inflated with the body limit applied to the inflated
size, so a small bomb cannot blow up memory; anything else is refused with 415.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator
from enum import Enum

from aiohttp import StreamReader

from fields.errors import Reason, RequestRefused

CHUNK = 64 * 1024


class Coding(Enum):
    IDENTITY = "identity"
    GZIP = "gzip"
    DEFLATE = "deflate"


_CODINGS = {
    "identity": Coding.IDENTITY,
    "gzip": Coding.GZIP,
    "x-gzip": Coding.GZIP,
    "deflate": Coding.DEFLATE,
}


class ClientIdle(Exception):
    """The client sent nothing for longer than the idle timeout while its body was being read."""


def too_long(limit: int) -> RequestRefused:
    return RequestRefused(Reason.REQUEST_LENGTH_LIMIT, f"body is larger than {limit} bytes")


def content_coding(codings: tuple[str, ...]) -> Coding:
    """The single coding of a body (`RequestFacts.codings`); 415 for anything we cannot undo."""
    if not codings:  # no Content-Encoding: the usual form
        return Coding.IDENTITY
    tokens = [t for t in codings if t != "identity"] or ["identity"]
    if len(tokens) > 1 or tokens[0] not in _CODINGS:
        raise RequestRefused(
            Reason.UNSUPPORTED_CONTENT_ENCODING,
            "a body that a field-level encryption profile applies to may be sent plain, gzip or deflate only",
        )
    return _CODINGS[tokens[0]]


async def idle_chunks(stream: StreamReader, idle: float) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; ClientIdle when none comes within `idle` seconds."""
    while True:
        chunk = stream.read_nowait()  # what has arrived already needs no timer
        if not chunk:
            if stream.at_eof():
                return
            try:
                async with asyncio.timeout(idle):
                    chunk = await stream.readany()
            except TimeoutError:
                raise ClientIdle() from None
            if not chunk:
                return
        yield chunk


async def read_limited(stream: StreamReader, declared: int | None, limit: int, idle: float) -> bytes:
    """The whole body, refused (400) as soon as it is known to exceed `limit`; 408 on an idle client."""
    if declared is not None and declared > limit:
        raise too_long(limit)
    # idle_chunks' first step, without its generator: a small form usually came whole with its head
    arrived = stream.read_nowait()
    size = len(arrived)
    if size > limit:
        raise too_long(limit)
    if stream.at_eof():
        return arrived
    chunks = [arrived] if arrived else []
    try:
        async for chunk in idle_chunks(stream, idle):
            size += len(chunk)
            if size > limit:
                raise too_long(limit)
            chunks.append(chunk)
    except ClientIdle:
        raise RequestRefused(Reason.CLIENT_IDLE_TIMEOUT, "the client stopped sending its body") from None
    return b"".join(chunks)


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise RequestRefused(Reason.MALFORMED_INPUT, "the compressed body is corrupt") from e
    if len(out) > limit:
        raise too_long(limit)
    if not inflater.eof or inflater.unused_data:
        raise RequestRefused(Reason.MALFORMED_INPUT, "the compressed body is truncated or padded")
    return out


def decode(data: bytes, coding: Coding, limit: int) -> bytes:
    """`data` with its content coding undone, at most `limit` bytes."""
    if coding is Coding.GZIP:
        return _inflate(data, 16 + zlib.MAX_WBITS, limit)
    if coding is Coding.DEFLATE:
        return _inflate(data, zlib.MAX_WBITS, limit)
    return data


def encode(data: bytes, coding: Coding) -> bytes:
    """`data` in the coding the client used, so the origin sees the same Content-Encoding."""
    if coding is Coding.GZIP:
        return gzip.compress(data, mtime=0)
    if coding is Coding.DEFLATE:
        return zlib.compress(data)
    return data
