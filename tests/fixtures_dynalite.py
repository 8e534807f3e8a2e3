"""dynalite (npm, LevelDB-backed, validates like DynamoDB) on a free loopback port, for the store tests.

scripts/install.sh --test installs the pinned dynalite into tests/node/node_modules. One server runs per
test session; each test gets its own table name and the AWS environment pointing at the server, with
dummy credentials and no shared config files, so nothing can reach a real AWS account.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"
START = NODE_DIR / "start-dynalite.js"
READY = re.compile(r"dynalite listening on 127\.0\.0\.1:(\d+)")


@dataclass
class Dynalite:
    """A running dynalite server; `stop()` and `start()` again keep its port (and its data, with a path)."""

    port: int = 0
    path: Path | None = None
    process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> Dynalite:
        node = shutil.which("node")
        if node is None or not (NODE_DIR / "node_modules" / "dynalite").is_dir():
            pytest.fail("dynalite is not installed: run scripts/install.sh --test (needs node and npm)")
        args = [node, str(START), str(self.port)] + ([str(self.path)] if self.path else [])
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if match := READY.search(line):
                self.port = int(match.group(1))
                return self
        self.stop()
        raise RuntimeError("dynalite did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, tmp_path: Path) -> None:
    """Point boto3 at `endpoint` with dummy credentials, ignoring any real AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)


@pytest.fixture(scope="session")
def dynalite_server() -> Iterator[Dynalite]:
    server = Dynalite().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dynamodb_env(dynalite_server: Dynalite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The AWS environment pointing at the session's dynalite; returns a fresh table name for the test."""
    aws_env(monkeypatch, dynalite_server.endpoint, tmp_path)
    return f"fle-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_dynalite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Dynalite]:
    """A dynalite of this test's own, LevelDB on disk, that the test may stop and start again."""
    server = Dynalite(path=tmp_path / "leveldb").start()
    aws_env(monkeypatch, server.endpoint, tmp_path)
    try:
        yield server
    finally:
        server.stop()
