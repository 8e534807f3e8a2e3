"""dynalite (npm, LevelDB-backed, validates like DynamoDB) on a free loopback port, for the store tests.

scripts/install.sh --test installs the pinned dynalite into tests/node/node_modules. One server runs per
test session; each test gets its own table name and the AWS environment pointing at the server, with
dummy credentials and no shared config files, so nothing can reach a real AWS account.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.dynalite import Dynalite


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
