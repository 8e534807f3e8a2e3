"""The `--workers N` parent's admin listener (edge_proxy/serving/parent_admin.py), driven on loopback as the
supervisor drives it: `poll` between other work. A stalled client must never hold it; bad requests get
short answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from edge_proxy.serving.parent_admin import AdminServer, Answer


def ok() -> Answer:
    return 200, "text/plain", b"ok\n"


def broken() -> Answer:
    raise RuntimeError("cannot read the metric files")


@pytest.fixture
def server() -> Iterator[AdminServer]:
    admin = AdminServer("127.0.0.1", 0, {"/ok": ok, "/broken": broken}, deadline=1.0)
    stop = threading.Event()

    def supervise() -> None:  # what edge_proxy/serving/workers.py does: poll whenever it would sleep
        while not stop.is_set():
            admin.poll(0.05)

    thread = threading.Thread(target=supervise)
    thread.start()
    try:
        yield admin
    finally:
        stop.set()
        thread.join(5)
        admin.close()


def exchange(admin: AdminServer, request: bytes) -> bytes:
    host, port = admin.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # closed with part of an oversized head unread: the answer came first
            pass
    return answer


def test_answers_get_and_head(server: AdminServer) -> None:
    answer = exchange(server, b"GET /ok?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok\n")
    assert b"Content-Length: 3\r\n" in answer and b"Connection: close\r\n" in answer
    head = exchange(server, b"HEAD /ok HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /missing HTTP/1.1\r\n\r\n", b"404"),
        (b"POST /ok HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"nonsense\r\n\r\n", b"400"),
        (b"GET /ok HTTP/1.1\r\n" + b"X: " + b"a" * 9000, b"400"),  # head over 8 KiB, never ended
        (b"GET /broken HTTP/1.1\r\n\r\n", b"500"),  # a failing answer never stops the supervisor
    ],
)
def test_bad_requests_get_short_answers(server: AdminServer, request_bytes: bytes, status: bytes) -> None:
    assert exchange(server, request_bytes).startswith(b"HTTP/1.1 " + status + b" ")
    assert exchange(server, b"GET /ok HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_a_stalled_client_neither_blocks_others_nor_stays(server: AdminServer) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as stalled:
        stalled.sendall(b"GET /ok HTTP/1.1\r\n")  # and never the end of the head
        started = time.monotonic()
        assert exchange(server, b"GET /ok HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - started < 0.5
        assert stalled.recv(100) == b""  # closed at its deadline (1 s here), without an answer
        assert time.monotonic() - started < 3
