"""Origins that read request bodies with their framework's DEFAULTS, unguarded, as a typical application does
(tests/origins/*_defaults.*): the judges of the header generator (tests/differential_headers.py).

The origins of tests/fixtures_origins.py refuse (415) a body whose media type they do not expect before
parsing it; these do not, so each framework's default reading shows: Rack reads a POST without Content-Type
as a form; Express's json and urlencoded parsers pick by media type; Go's ParseMultipartForm reads the
urlencoded body of a POST, PUT or PATCH; PHP fills $_POST. Each answers the canonical JSON of
tests/origins/common.py plus `view` (media type, Content-Length, chunked, body bytes read: what the origin
made of the request's framing) and `reads_as` (the body format its framework parsed: form, json, multipart
or "" for none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fixtures_origins import (
    FORM,
    JSON,
    MULTIPART,
    ROOT,
    Origin,
    _free_port,
    _read_port,
    _wait_port,
    build_go,
    start_origin,
    stop_origins,
)

# (name, family, command, reads); {port} and {go} are filled at start
DEFAULT_SPECS: list[tuple[str, str, list[str], frozenset[str]]] = [
    ("rack-defaults", "Rack", ["ruby", "rack_defaults.rb"], frozenset({FORM, MULTIPART})),
    ("node-defaults", "Express 4 parsers", ["node", "node_defaults.js"], frozenset({FORM, JSON, MULTIPART})),
    ("go-defaults", "Go net/http", ["{go}"], frozenset({FORM, MULTIPART})),
    ("php-defaults", "PHP", ["php", "-d", "display_errors=0", "-S", "127.0.0.1:{port}", "php_defaults.php"],
     frozenset({FORM, MULTIPART})),
]  # fmt: skip


@contextmanager
def running_default_origins(tmp: Path, names: tuple[str, ...] | None = None) -> Iterator[list[Origin]]:
    """Start the default-reading origins (all, or those named), yield them, stop them."""
    specs = [spec for spec in DEFAULT_SPECS if names is None or spec[0] in names]
    tools = {"go" if spec[2][0] == "{go}" else spec[2][0] for spec in specs}
    for tool in tools:
        assert shutil.which(tool), f"{tool} is not installed (scripts/install.sh --test installs it)"
    go = build_go(tmp, "go_defaults") if "go" in tools else None
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PHP_CLI_SERVER_WORKERS": "4", "TMPDIR": str(tmp)}
    started: list[tuple[subprocess.Popen[bytes], int, Path, tuple[str, str, frozenset[str]]]] = []
    try:
        for name, family, command, reads in specs:
            port = _free_port() if any("{port}" in c for c in command) else 0
            argv = [c.format(port=port, go=go) for c in command]
            out = tmp / f"{name}.out"
            process = start_origin(argv, env, out)
            started.append((process, port, out, (name, family, reads)))
        deadline = time.monotonic() + 60
        origins = []
        for process, port, out, (name, family, reads) in started:
            if port:
                _wait_port(port, process, deadline)
            else:
                port = _read_port(process, out, deadline)
            origins.append(Origin(name, family, f"http://127.0.0.1:{port}", reads))
        yield origins
    finally:
        stop_origins([process for process, *_ in started])


@pytest.fixture(scope="session")
def default_origins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Origin]]:
    """Every default-reading origin on loopback for the session."""
    with running_default_origins(tmp_path_factory.mktemp("default-origins")) as origins:
        yield origins
