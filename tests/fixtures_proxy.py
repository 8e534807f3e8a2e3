"""Fixtures for the proxy tests: a canary origin, CloudFront config builders, a TLS certificate, stacks.

The canary origin fails the test that uses it if any protected plaintext the test sent ever reaches it,
in any request body, raw, percent-encoded or inside a gzip/deflate body. Tests register every protected
value they send with `canary.protect(...)`.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from yarl import URL

from edge_proxy import (
    Buffering,
    Limits,
    ProxySettings,
    Runtime,
    Timeouts,
    build_admin_app,
    build_app,
    start_site,
)
from profiles import load_config_dir
from testkit.canary import Canary, Received, canary_app  # noqa: F401 (re-exported)
from testkit.cloudfront import (  # noqa: F401 (re-exported: tests import the builders from here too)
    FORM,
    cf_config,
    cf_profile,
    cf_public_key,
    phone_config_dir,
    write_config_dir,
)


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    canary = Canary()
    runner, canary.url = await start_site(canary_app(canary), "127.0.0.1", 0)
    try:
        yield canary
    finally:
        await runner.cleanup()
    assert not canary.violations, canary.violations


# --- TLS ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files (cert, key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# --- a proxy in front of the canary ---------------------------------------------------------------------


@dataclass
class ProxyStack:
    url: str
    admin: str
    runtime: Runtime
    canary: Canary

    def sample(self, name: str, **labels: str) -> float:
        """The value of one series of the proxy's metrics now (0 when it has none yet)."""
        return self.runtime.metrics.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def proxy_stack(
    canary: Canary,
    config_dir: Path,
    *,
    origin: str | None = None,
    limits: Limits | None = None,
    timeouts: Timeouts | None = None,
    buffering: Buffering | None = None,
    index_keys: Any = None,
    **site: Any,
) -> AsyncIterator[ProxyStack]:
    """The proxy (and its admin app) on free loopback ports, forwarding to the canary (or `origin`)."""
    from edge_proxy import ConfigSource

    settings = ProxySettings(
        origin=URL(origin or canary.url),
        config=load_config_dir(config_dir).only_config(),
        limits=limits or Limits(),
        timeouts=timeouts or Timeouts(),
        source=ConfigSource(config_dir),
        buffering=buffering or Buffering(),
        index_keys=index_keys,
    )
    runtime = Runtime(settings)
    t = settings.timeouts
    site.setdefault("keepalive_timeout", t.client_idle)
    runner, url = await start_site(build_app(runtime), "127.0.0.1", 0, shutdown_timeout=t.shutdown, **site)
    admin_runner, admin_url = await start_site(build_admin_app(runtime), "127.0.0.1", 0)
    try:
        yield ProxyStack(url, admin_url, runtime, canary)
    finally:
        await runner.cleanup()
        await admin_runner.cleanup()
