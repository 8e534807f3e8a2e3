"""A small Lambda Runtime API (2018-06-01) on loopback, for running a function under the real awslambdaric.

It plays the part of Lambda's service side: the runtime interface client long-polls `GET
/2018-06-01/runtime/invocation/next`, gets one event with the Lambda-Runtime-* headers, and answers with
`POST .../invocation/{id}/response` or `.../{id}/error`; a function that cannot start posts
`/2018-06-01/runtime/init/error`. The test queues events with `invoke()` and reads the answers. Timestamps
(monotonic) of the first poll and of each answer let the test measure the cold start.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fle-decrypt"
POLL_SECONDS = 0.2  # a waiting /next re-checks for shutdown this often


@dataclass(frozen=True)
class Answer:
    """What the function posted for one invocation: `kind` is "response" or "error"."""

    request_id: str
    kind: str
    body: Any
    error_type: str | None
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-poll (the end of every test) is expected; anything else is reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """The emulator: start(), invoke(event) -> Answer, stop()."""

    def __init__(self, function_arn: str = FUNCTION_ARN, timeout_ms: int = 30_000) -> None:
        self.function_arn = function_arn
        self.timeout_ms = timeout_ms
        self.first_poll_at: float | None = None
        self.init_error: Any = None
        self._pending: deque[tuple[str, bytes]] = deque()
        self._answers: dict[str, Answer] = {}
        self._changed = threading.Condition()
        self._stopping = False
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """host:port, as AWS_LAMBDA_RUNTIME_API carries it."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def queue(self, event: Any) -> str:
        """Queue an invocation; returns its request id."""
        request_id = str(uuid.uuid4())
        with self._changed:
            self._pending.append((request_id, json.dumps(event).encode()))
            self._changed.notify_all()
        return request_id

    def answer(self, request_id: str, timeout: float = 60) -> Answer:
        """Wait (bounded) for the function's answer to one invocation."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while request_id not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.init_error is not None:
                    raise TimeoutError(f"no answer for {request_id}; init error: {self.init_error!r}")
                self._changed.wait(min(left, POLL_SECONDS))
            return self._answers[request_id]

    def invoke(self, event: Any, timeout: float = 60) -> Answer:
        return self.answer(self.queue(event), timeout)

    def _next(self) -> tuple[str, bytes] | None:
        with self._changed:
            if self.first_poll_at is None:
                self.first_poll_at = time.monotonic()
            while not self._pending:
                if self._stopping:
                    return None
                self._changed.wait(POLL_SECONDS)
            return self._pending.popleft()

    def _record(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> None:
        at = time.monotonic()
        with self._changed:
            self._answers[request_id] = Answer(request_id, kind, json.loads(body or b"null"), error_type, at)
            self._changed.notify_all()

    def _record_init_error(self, body: bytes) -> None:
        with self._changed:
            self.init_error = json.loads(body or b"null")
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client keeps its connection open between calls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._send(404, b'{"errorMessage": "unknown path"}')
                    return
                invocation = api._next()
                if invocation is None:
                    self._send(500, b'{"errorMessage": "the runtime API is shutting down"}')
                    return
                request_id, event = invocation
                deadline = int(time.time() * 1000) + api.timeout_ms
                self._send(
                    200,
                    event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api._record_init_error(body)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                    api._record(parts[1], parts[2], body, error_type)
                else:
                    self._send(404, b'{"errorMessage": "unknown path"}')
                    return
                self._send(202, b'{"status": "OK"}')

        return Handler
