"""Real origin servers (tests/origins/), one process per framework family, started once per session.

Each server prints `LISTENING <port>` (PHP's built-in server gets a free port from us); the fixture
`origin_servers` yields one `Origin` per reading, which a replay client posts the same bytes to. Every
origin answers the canonical JSON of what its framework parsed (tests/origins/common.py). The Go and Java
origins are compiled into the session's tmp dir first (`go build`, `javac`), nothing written elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORIGINS = ROOT / "tests" / "origins"
FORM = "form"
MULTIPART = "multipart"
JSON = "json"


@dataclass(frozen=True)
class Origin:
    """One origin reading: `family` names the parser, `url` the base the replay posts to (path kept)."""

    name: str
    family: str
    url: str
    reads: frozenset[str]  # body formats its framework reads (the others answer 415 "not read")


# Debian's libjetty9-java and libservlet-api-java: Jetty 9.4's server, servlet container and JSON parser
JETTY_JARS = [
    f"/usr/share/java/{jar}.jar"
    for jar in (
        "servlet-api",
        "jetty9-server",
        "jetty9-servlet",
        "jetty9-security",
        "jetty9-http",
        "jetty9-io",
        "jetty9-util",
        "jetty9-util-ajax",
    )
]
# A small heap and the client compiler only: the origin answers a few thousand tiny requests, and the JVM
# starts in about a second on a shared 2-core machine; java.io.tmpdir is the session's (multipart uploads).
JVM_FLAGS = ["-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.io.tmpdir={tmp}"]

# (name, family, command, reads, path prefix); {port} is filled for servers that cannot pick their own
ALL = frozenset({FORM, MULTIPART, JSON})
SPECS: list[tuple[str, str, list[str], frozenset[str], str]] = [
    ("flask", "Werkzeug", [sys.executable, "flask_origin.py"], ALL, ""),
    ("starlette", "python-multipart", [sys.executable, "starlette_origin.py"], ALL, ""),
    ("aiohttp", "aiohttp", [sys.executable, "aiohttp_origin.py"], ALL, ""),
    ("django", "Django", [sys.executable, "django_origin.py"], frozenset({FORM, MULTIPART}), ""),
    ("express4", "qs (body-parser 1) + multer", ["node", "express4.js"], ALL, ""),
    ("express5-qs", "qs (body-parser 2)", ["node", "express5.js"], frozenset({FORM, JSON}), "/ext"),
    (
        "express5-simple",
        "querystring (body-parser 2)",
        ["node", "express5.js"],
        frozenset({FORM, JSON}),
        "/simple",
    ),
    ("busboy", "busboy", ["node", "busboy.js"], frozenset({FORM, MULTIPART}), ""),
    ("formidable", "formidable", ["node", "formidable.js"], ALL, ""),
    ("php", "PHP", ["php", "-d", "display_errors=0", "-S", "127.0.0.1:{port}", "php_router.php"], ALL, ""),
    ("rack", "Rack", ["ruby", "rack_origin.rb"], frozenset({FORM, MULTIPART}), ""),
    ("go", "Go net/http", ["{go}"], ALL, ""),
    ("jetty", "Java servlets (Jetty 9)", ["java", *JVM_FLAGS, "-cp", "{java_cp}", "JettyOrigin"], ALL, ""),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_go(tmp: Path, stem: str = "go_origin") -> Path:
    """`go build` of the stdlib-only origin tests/origins/{stem}.go, with GOCACHE/GOPATH in tmp (nothing
    written outside it)."""
    binary = tmp / stem
    env = {
        **os.environ,
        "GOCACHE": str(tmp / "gocache"),
        "GOPATH": str(tmp / "gopath"),
        "GO111MODULE": "off",
        "CGO_ENABLED": "0",
    }
    subprocess.run(
        ["go", "build", "-o", str(binary), f"{stem}.go"], cwd=ORIGINS, env=env, check=True, timeout=300
    )
    return binary


def _build_java(tmp: Path) -> str:
    """`javac` of the servlet origin into tmp; returns the class path that runs it (classes + Jetty jars)."""
    missing = [jar for jar in JETTY_JARS if not Path(jar).is_file()]
    assert not missing, f"{missing} not installed (scripts/install.sh --test installs libjetty9-java)"
    classes = tmp / "java-classes"
    classpath = os.pathsep.join(JETTY_JARS)
    subprocess.run(
        ["javac", "-nowarn", "-d", str(classes), "-cp", classpath, "JettyOrigin.java"],
        cwd=ORIGINS,
        check=True,
        timeout=300,
    )
    return os.pathsep.join([str(classes), classpath])


def _wait_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        assert process.poll() is None, f"origin exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"origin on port {port} never listened")


def _read_port(process: subprocess.Popen[bytes], out: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        text = out.read_text()
        if "LISTENING " in text:
            return int(text.split("LISTENING ")[1].split()[0])
        assert process.poll() is None, f"origin exited with {process.returncode}: {out.read_text()}"
        time.sleep(0.05)
    raise AssertionError("origin never printed its port")


@pytest.fixture(scope="session")
def origin_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Origin]]:
    """Every origin server on loopback for the session; stopped at the end."""
    with running_origins(tmp_path_factory.mktemp("origins")) as origins:
        yield origins


@contextmanager
def running_origins(tmp: Path) -> Iterator[list[Origin]]:
    """Start every origin (building the Go and Java ones into `tmp`), yield their readings, stop them."""
    for tool in ("node", "php", "ruby", "go", "java", "javac"):
        assert shutil.which(tool), f"{tool} is not installed (scripts/install.sh --test installs it)"
    go = build_go(tmp)
    java_cp = _build_java(tmp)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PHP_CLI_SERVER_WORKERS": "4", "TMPDIR": str(tmp)}
    started: dict[tuple[str, ...], tuple[subprocess.Popen[bytes], int]] = {}
    origins: list[Origin] = []
    try:
        pending = []
        for name, _family, command, _reads, _prefix in SPECS:
            key = tuple(command)
            if key not in started:
                port = _free_port() if any("{port}" in c for c in command) else 0
                argv = [c.format(port=port, go=go, java_cp=java_cp, tmp=tmp) for c in command]
                out = tmp / f"{name}.out"
                process = start_origin(argv, env, out)
                started[key] = (process, port)
                pending.append((key, process, port, out))
        deadline = time.monotonic() + 60
        for key, process, port, out in pending:
            if port:
                _wait_port(port, process, deadline)
            else:
                started[key] = (process, _read_port(process, out, deadline))
        for name, family, command, reads, prefix in SPECS:
            port = started[tuple(command)][1]
            origins.append(Origin(name, family, f"http://127.0.0.1:{port}{prefix}", reads))
        yield origins
    finally:
        stop_origins([process for process, _ in started.values()])


def start_origin(argv: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    """One origin process in tests/origins, its stdout (where it prints `LISTENING <port>`) to `out`, in a
    process group of its own: PHP's workers are stopped with it."""
    with out.open("wb") as stdout:
        return subprocess.Popen(
            argv, cwd=ORIGINS, env=env, stdout=stdout, stderr=subprocess.DEVNULL, start_new_session=True
        )


def stop_origins(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every origin's group, give each 10 s then SIGKILL it; last, SIGKILL each group again for
    workers left behind by their parent."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(5)
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the process group this fixture created for `process` (its id is the process's pid)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
