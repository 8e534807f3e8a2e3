"""The raw capture origin and the proxy under test (`fle proxy --workers 1`) for the security harness.

The capture origin records the exact bytes the proxy forwards (request head and body as received; a
chunked body is dechunked, Content-Encoding is kept) and answers 200; `replay` then posts the same
method, path, Content-Type, Content-Encoding and body (with a correct Content-Length) to every origin.
"""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, Phase, seed, settings

from tests.differential_strategies import FORM_CT, FORM_PATTERNS, JSON_CT, JSON_POINTERS, MULTIPART_CT
from tests.fixtures_origins import Origin
from tests.fixtures_process import FleProcess, fle
from tests.fixtures_proxy import cf_config, cf_profile, cf_public_key, write_config_dir


@dataclass(frozen=True)
class Captured:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


def _read_line(stream: Any) -> bytes:
    line = stream.readline(65537)
    if not line:
        raise EOFError
    return line


def _read_body(stream: Any, headers: list[tuple[str, str]]) -> bytes:
    codings = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
    if "chunked" in codings:
        body = bytearray()
        while True:
            size = int(_read_line(stream).split(b";")[0].strip(), 16)
            if size == 0:
                while _read_line(stream) not in (b"\r\n", b"\n"):
                    pass
                return bytes(body)
            body += stream.read(size)
            _read_line(stream)
    length = [v for k, v in headers if k.lower() == "content-length"]
    return stream.read(int(length[0])) if length else b""


@dataclass
class CaptureOrigin:
    """A keep-alive HTTP/1.1 server that stores every request it gets, byte for byte."""

    url: str = ""
    received: list[Captured] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Captured]:
        with self.lock:
            got, self.received = self.received, []
        return got


def _handler(capture: CaptureOrigin) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                while True:
                    request_line = _read_line(self.rfile).rstrip(b"\r\n").decode("latin-1")
                    headers: list[tuple[str, str]] = []
                    while (line := _read_line(self.rfile)) not in (b"\r\n", b"\n"):
                        name, _, value = line.decode("latin-1").partition(":")
                        headers.append((name.strip(), value.strip()))
                    body = _read_body(self.rfile, headers)
                    method, target, _ = request_line.split(" ", 2)
                    with capture.lock:
                        capture.received.append(Captured(method, target, tuple(headers), body))
                    self.wfile.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
                    )
                    self.wfile.flush()
            except (EOFError, ConnectionError, ValueError):
                return

    return Handler


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_capture() -> tuple[CaptureOrigin, _Server]:
    capture = CaptureOrigin()
    server = _Server(("127.0.0.1", 0), _handler(capture))
    capture.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return capture, server


def start_proxy(config_dir: Path, origin_url: str, log: Path) -> tuple[FleProcess, str]:
    """`fle proxy --workers 1` as a process, once it listens; its URL. Its stderr is kept in `log`."""
    process = fle(
        "proxy", "--config", str(config_dir), "--origin", origin_url,
        "--listen", "127.0.0.1:0", "--admin", "off", "--access-log", "off", "--workers", "1",
        log_to=(log.with_suffix(".out"), log),
    )  # fmt: skip
    process.wait_for("proxy listening on", timeout=30)
    return process, process.url("proxy")


def harness_config_dir(
    directory: Path, key: rsa.RSAPrivateKey, *, forward_unknown_content_type: bool = False
) -> Path:
    """The harnesses' configuration: form, multipart and JSON each mapped to a profile (a plain name, a
    wildcard, a bracketed name); with `forward_unknown_content_type` a body of another media type reaches
    the origin untouched (the header harness)."""
    config = cf_config(
        "C1",
        [(FORM_CT, "PF"), (JSON_CT, "PJ", "JSON"), (MULTIPART_CT, "PM", "Multipart")],
        forward_unknown_content_type=forward_unknown_content_type,
    )
    return write_config_dir(
        directory,
        cf_public_key("KA", "KeyA", key),
        cf_profile("PF", [("KA", "Alpha", list(FORM_PATTERNS))]),
        cf_profile("PJ", [("KA", "Alpha", list(JSON_POINTERS))]),
        cf_profile("PM", [("KA", "Alpha", list(FORM_PATTERNS))]),
        config,
    )


@contextmanager
def proxy_to_capture(config_dir: Path, log: Path) -> Iterator[tuple[str, CaptureOrigin]]:
    """A capture origin and `fle proxy --workers 1` forwarding to it: the proxy's URL and the capture, both
    stopped when the block ends (every harness, test or long run, is set up this way)."""
    capture, server = start_capture()
    try:
        process, url = start_proxy(config_dir, capture.url, log)
        try:
            yield url, capture
        finally:
            process.stop(timeout=15)
    finally:
        server.shutdown()
        server.server_close()


def raw_exchange(url: str, request: bytes, timeout: float = 20.0) -> tuple[int, bytes]:
    """Send raw request bytes; the status (0: no HTTP answer) and the whole answer."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0
    return status, answer


@dataclass(frozen=True)
class Parse:
    """One origin's reading of a replayed body: status, and its canonical JSON (or error) answer."""

    origin: Origin
    status: int
    fields: tuple[tuple[tuple[str, ...], str], ...] = ()
    files: tuple[tuple[tuple[str, ...], str, str], ...] = ()
    error: str = ""


def _path(keys: list[object]) -> tuple[str, ...]:
    """A reading's path as text keys (a framework without a name for a part reports null: "")."""
    return tuple("" if key is None else str(key) for key in keys)


def _post(origin: Origin, target: str, headers: dict[str, str], body: bytes) -> Parse:
    host, port = origin.url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
    prefix = origin.url.split(f":{port}", 1)[1]
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", prefix + target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as e:
        return Parse(origin, 0, error=repr(e))
    finally:
        connection.close()
    try:
        doc = json.loads(data)
    except ValueError:
        return Parse(origin, response.status, error=data[:300].decode("latin-1"))
    if response.status != 200:
        return Parse(origin, response.status, error=str(doc.get("error", doc))[:300])
    fields = tuple((_path(p), str(v)) for p, v in doc["fields"])
    files = tuple((_path(p), str(n), str(c)) for p, n, c in doc["files"])
    return Parse(origin, 200, fields, files)


_POOL = ThreadPoolExecutor(max_workers=12, thread_name_prefix="replay")


def replay(origins: list[Origin], captured: Captured) -> list[Parse]:
    """Post what the proxy forwarded to every origin at once; their readings in `origins` order."""
    headers = {"Content-Length": str(len(captured.body))}
    for name in ("Content-Type", "Content-Encoding"):
        value = captured.header(name)
        if value is not None:
            headers[name] = value
    target = captured.target if captured.target.startswith("/") else "/"
    return list(_POOL.map(lambda o: _post(o, target, headers, captured.body), origins))


def replay_raw(
    origins: list[Origin], content_type: str, body: bytes, encoding: str | None = None
) -> list[Parse]:
    """Post a hand-made body straight to every origin (no proxy): the harness-can-fail check."""
    headers = [("Content-Type", content_type)] + ([("Content-Encoding", encoding)] if encoding else [])
    return replay(origins, Captured("POST", "/submit", tuple(headers), body))


def iter_parses(parses: list[Parse]) -> Iterator[tuple[Parse, tuple[str, ...], str]]:
    """Every (parse, path, value) an origin read: fields, and file contents under their field path."""
    for parse in parses:
        for path, value in parse.fields:
            yield parse, path, value
        for path, _, content in parse.files:
            yield parse, path, content


def long_run(examples: int, seed_value: int) -> Any:
    """The decorators of a harness long run (harness_enumerate.py, harness_headers_enumerate.py): a fixed
    seed, `examples` generated cases, no shrinking, no example database, no deadline or health checks."""

    def apply(test: Any) -> Any:
        return seed(seed_value)(
            settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(test)
        )

    return apply
