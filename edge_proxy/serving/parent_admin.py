"""The admin listener of the `fle proxy --workers N` parent: /healthz, /readyz and /metrics for all workers.

Why a small hand-made server: the parent supervises workers it forks at any time (a crashed one is replaced),
so it runs no event loop and no thread (a fork copies neither safely). Instead the supervisor calls `poll`
whenever it would otherwise sleep, and this server does a bounded amount of non-blocking work there: accept,
read one request head (at most 8 KiB, within 5 s), write one short answer, close. A client that stalls cannot
hold the supervisor: every socket is non-blocking and dropped at its deadline. Bind it to loopback or a
private network, like the single-process admin listener (docs/security.md).
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST

from .shared_metrics import SharedMetrics
from .workers import Status

Answer = tuple[int, str, bytes]
"""(status, content type, body) of one admin path."""

_MAX_HEAD = 8192  # bytes of request line and headers
_DEADLINE = 5.0  # seconds a connection may take, from accept to the last byte of the answer
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
log = logging.getLogger("fle.admin")


@dataclass(slots=True)
class _Connection:
    sock: socket.socket
    deadline: float
    head: bytearray = field(default_factory=bytearray)
    out: bytes = b""
    writing: bool = False


class AdminServer:
    """Serves `routes` (path -> function giving the answer) on host:port, one short answer per connection."""

    def __init__(
        self, host: str, port: int, routes: Mapping[str, Callable[[], Answer]], deadline: float = _DEADLINE
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(64)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self._routes = routes
        self._deadline = deadline
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._connections: dict[int, _Connection] = {}
        bound = self._listener.getsockname()[1]
        self.url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"

    def poll(self, timeout: float) -> None:
        """Serve what is ready within `timeout` seconds (the supervisor's idle time)."""
        for key, events in self._selector.select(timeout):
            if key.fileobj is self._listener:
                self._accept()
            else:
                self._step(self._connections[key.fd], events)
        now = time.monotonic()
        for conn in [c for c in self._connections.values() if c.deadline < now]:
            self._drop(conn)

    def close(self) -> None:
        """Stop listening, drop every connection (a forked worker does this with its inherited copy)."""
        for conn in list(self._connections.values()):
            self._drop(conn)
        self._selector.close()
        self._listener.close()

    def forget(self) -> None:
        """In a forked worker: close the inherited descriptors only; the parent keeps serving on its own.

        The epoll instance is shared with the parent across fork, so unregistering here would unregister
        there too; closing this process's descriptors leaves the parent's registrations alone.
        """
        for conn in self._connections.values():
            conn.sock.close()
        self._connections.clear()
        self._selector.close()  # closes this process's epoll descriptor, unregisters nothing
        self._listener.close()

    def _accept(self) -> None:
        for _ in range(64):  # a bounded batch, then back to supervising
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of file descriptors: try again on the next poll
                return
            sock.setblocking(False)
            conn = _Connection(sock, time.monotonic() + self._deadline)
            self._connections[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ)

    def _step(self, conn: _Connection, events: int) -> None:
        try:
            if conn.writing:
                self._write(conn)
            else:
                self._read(conn)
        except OSError:
            self._drop(conn)

    def _read(self, conn: _Connection) -> None:
        try:
            chunk = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            self._drop(conn)
            return
        conn.head += chunk
        if b"\r\n\r\n" not in conn.head and b"\n\n" not in conn.head:
            if len(conn.head) > _MAX_HEAD:
                self._answer(conn, (400, "text/plain", b"request head too large\n"), head_only=False)
            return
        self._answer(conn, *self._route(bytes(conn.head)))

    def _route(self, head: bytes) -> tuple[Answer, bool]:
        parts = head.split(b"\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return (400, "text/plain", b"bad request\n"), False
        method, target = parts[0], parts[1].split(b"?", 1)[0].decode("latin-1")
        if method not in (b"GET", b"HEAD"):
            return (405, "text/plain", b"method not allowed\n"), False
        route = self._routes.get(target)
        if route is None:
            return (404, "text/plain", b"not found\n"), method == b"HEAD"
        try:
            return route(), method == b"HEAD"
        except Exception:  # an answer that cannot be made must not stop the supervisor
            log.exception("admin %s failed", target)
            return (500, "text/plain", b"internal error\n"), False

    def _answer(self, conn: _Connection, answer: Answer, head_only: bool) -> None:
        status, content_type, body = answer
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        conn.out = head.encode("latin-1") + (b"" if head_only else body)
        conn.writing = True
        self._selector.modify(conn.sock, selectors.EVENT_WRITE)
        self._write(conn)

    def _write(self, conn: _Connection) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        conn.out = conn.out[sent:]
        if not conn.out:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        if self._connections.pop(conn.sock.fileno(), None) is not None:
            self._selector.unregister(conn.sock)
        conn.sock.close()


def workers_admin(address: tuple[str, int], status: Status, shared: SharedMetrics) -> AdminServer:
    """The one admin listener of all workers; OSError if it cannot listen on `address`.

    /healthz: the parent supervises (it restarts workers itself). /readyz: every worker listens and none is
    draining. /metrics: all workers' series added up, those of workers that died included.
    """
    text = "text/plain; charset=utf-8"

    def healthz() -> Answer:
        return 200, text, b"ok\n"

    def readyz() -> Answer:
        if status.stopping:
            return 503, text, b"draining\n"
        if status.ready < status.wanted:
            return 503, text, f"{status.ready}/{status.wanted} workers ready\n".encode()
        return 200, text, b"ready\n"

    def metrics() -> Answer:
        return 200, CONTENT_TYPE_LATEST, shared.exposition()

    return AdminServer(*address, {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics})
