"""Buffering between a slow client and the origin, so that no client's pace holds an origin connection.

Why (issue 24, docs/reliability.md#isolation-under-slow-clients): the pool to the origin has a fixed size,
and a connection is taken from it for a whole exchange. Streamed straight through, a client that uploads
slowly holds its connection until its last byte, and one that reads its answer slowly holds it until the
answer is all in the kernel's buffers; a few hundred such clients hold every connection. As nginx does
(`proxy_request_buffering`, `proxy_buffering`), the proxy therefore

- reads a request body whole before it takes an origin connection (`buffer_request`), and
- reads the origin's answer as fast as the origin sends it, releasing the connection as soon as the answer
  is complete, while the client is sent what has been read at its own pace (`ResponsePump`).

Both keep up to `Buffering.memory_bytes` of one body in memory and write the rest to an anonymous
temporary file (unlinked at once: nothing is left behind, even after a crash), up to a per-body limit; all
bodies on disk in one process share `Buffering.disk_bytes`. A request body over its limit is refused
(413); an answer over its limit, or arriving when the disk budget is spent, is read from the origin only as
fast as the client takes it (the connection is then held, as before, and bounded by the client write
timeout). The file is read and written with plain blocking calls: a temporary file is in the page cache,
so a write or read of one piece costs microseconds, like a memory copy.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from fields.errors import Reason, RequestRefused

PIECE = 256 * 1024  # bytes read back from a temporary file at once


@dataclass(frozen=True, slots=True)
class Buffering:
    """How request bodies and answers are buffered (docs/proxy.md#buffering)."""

    request: bool = True  # read a request body whole before taking an origin connection
    response: bool = True  # read the origin's answer as fast as it comes, whatever the client's pace
    memory_bytes: int = 256 * 1024  # of one body kept in memory; the rest goes to a temporary file
    max_request_bytes: int = 1024 * 1024 * 1024  # largest request body buffered; larger: 413
    max_response_bytes: int = 64 * 1024 * 1024  # of one answer buffered ahead of the client
    disk_bytes: int = 4 * 1024 * 1024 * 1024  # of all bodies in temporary files at once, per process
    directory: str | None = None  # for the temporary files (None: $TMPDIR, else /tmp)

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "max_request_bytes", "max_response_bytes", "disk_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")


class DiskBudget:
    """The bytes of all temporary files of one process; a spool asks before it writes to its file."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size


class Spool:
    """A first-in first-out byte buffer: memory up to `memory` unread bytes, a temporary file beyond.

    Every byte in memory precedes every unread byte in the file: a piece goes to memory only while the
    file holds nothing unread, so reading memory first and the file next keeps the order.
    """

    __slots__ = (
        "_budget",
        "_directory",
        "_fd",
        "_file_bytes",
        "_memory",
        "_read_at",
        "_write_at",
        "memory",
        "size",
        "spilled",
    )

    def __init__(self, memory: int, budget: DiskBudget, directory: str | None = None) -> None:
        self.memory = memory
        self._budget = budget
        self._directory = directory
        self._memory: deque[bytes] = deque()
        self._fd = -1
        self._read_at = self._write_at = 0  # unread file bytes are [_read_at, _write_at)
        self._file_bytes = 0  # taken from the budget
        self.size = 0  # unread bytes, in memory and in the file
        self.spilled = False  # a byte ever went to the file

    def put(self, data: bytes) -> bool:
        """Append `data`; False (nothing appended) when it would go to disk and the budget is spent."""
        if self._read_at == self._write_at and self.size + len(data) <= self.memory:
            self._memory.append(data)
        else:
            if not self._budget.take(len(data)):
                return False
            if self._fd < 0:
                self._fd = _temporary(self._directory)
                self.spilled = True
            os.pwrite(self._fd, data, self._write_at)
            self._write_at += len(data)
            self._file_bytes += len(data)
        self.size += len(data)
        return True

    def take(self) -> bytes:
        """The next unread piece (b"" when none)."""
        if self._memory:
            data = self._memory.popleft()
        elif self._read_at < self._write_at:
            data = os.pread(self._fd, min(PIECE, self._write_at - self._read_at), self._read_at)
            self._read_at += len(data)
            if self._read_at == self._write_at:  # all read: the file starts over, its bytes are free again
                self._read_at = self._write_at = 0
                self._budget.give_back(self._file_bytes)
                self._file_bytes = 0
        else:
            return b""
        self.size -= len(data)
        return data

    def close(self) -> None:
        self._memory.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._budget.give_back(self._file_bytes)
        self._file_bytes = 0
        self.size = 0


def _temporary(directory: str | None) -> int:
    """An anonymous temporary file: unlinked as soon as it is opened, so it goes when its descriptor does."""
    fd, path = tempfile.mkstemp(prefix="fle-proxy-buffer-", dir=directory)
    os.unlink(path)
    return fd


class SpooledBody:
    """A request body read whole into a Spool: sent to the origin with its exact Content-Length."""

    __slots__ = ("length", "spool")

    def __init__(self, spool: Spool, length: int) -> None:
        self.spool = spool
        self.length = length

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        try:
            while piece := self.spool.take():
                yield piece
        finally:
            self.spool.close()


def body_too_large(limit: int) -> RequestRefused:
    return RequestRefused(Reason.REQUEST_BUFFER_LIMIT, f"body is larger than {limit} bytes")


async def buffer_request(
    chunks: AsyncIterable[bytes], settings: Buffering, budget: DiskBudget, declared: int | None
) -> bytes | SpooledBody:
    """The whole body: bytes when it fits in memory, else a SpooledBody; RequestRefused when too large
    (413, before reading when its Content-Length says so) or when the disk budget is spent (503)."""
    limit = settings.max_request_bytes
    if declared is not None and declared > limit:
        raise body_too_large(limit)
    spool = Spool(settings.memory_bytes, budget, settings.directory)
    length = 0
    try:
        async for chunk in chunks:
            length += len(chunk)
            if length > limit:
                raise body_too_large(limit)
            if not spool.put(chunk):
                raise RequestRefused(
                    Reason.REQUEST_BUFFER_FULL, "the proxy has no room to buffer the body now; try again"
                )
    except BaseException:
        spool.close()
        raise
    if not spool.spilled:
        pieces = []
        while piece := spool.take():
            pieces.append(piece)
        spool.close()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return SpooledBody(spool, length)


class Readable(Protocol):
    """What the pump reads: an OriginResponse (origin_client/response.py)."""

    async def read(self) -> bytes: ...


class ResponsePump:
    """Reads an origin answer into a Spool as fast as the origin sends it, while the relay takes from it.

    `pump` runs as its own task: it ends when the answer is complete (the origin connection then goes back
    to the pool at once), or raises the origin's error. When more than `limit` bytes wait unread, or the
    disk budget is spent, it stops reading until the relay has taken some: the origin is then read at the
    client's pace again (its connection held), as when unbuffered.
    """

    __slots__ = ("_error", "_ready", "_room", "done", "limit", "spool")

    def __init__(self, spool: Spool, limit: int) -> None:
        self.spool = spool
        self.limit = limit
        self.done = False
        self._error: BaseException | None = None
        self._ready: asyncio.Future[None] | None = None  # the relay waits for a piece
        self._room: asyncio.Future[None] | None = None  # the pump waits for room

    async def run(self, upstream: Readable) -> None:
        """Read the whole answer (the relay gets the origin's error from `take`; cancelled: just stop)."""
        try:
            while data := await upstream.read():
                while self.spool.size >= self.limit or not self.spool.put(data):
                    if self.spool.size == 0:  # nothing unread and no room on disk: this piece goes to memory
                        self.spool.memory = max(self.spool.memory, len(data))
                        continue
                    self._room = asyncio.get_running_loop().create_future()
                    try:
                        await self._room
                    finally:
                        self._room = None
                self._wake()
        except Exception as e:
            self._error = e
        finally:
            self.done = True
            self._wake()

    async def take(self) -> bytes:
        """The next piece of the answer; b"" at its end; the origin's error if it broke off."""
        while True:
            data = self.spool.take()
            if data:
                room = self._room
                if room is not None and not room.done():
                    room.set_result(None)
                return data
            if self.done:
                if self._error is not None:
                    raise self._error
                return b""
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._ready
            finally:
                self._ready = None

    def _wake(self) -> None:
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)
