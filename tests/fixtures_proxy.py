"""Fixtures for the proxy tests: a canary origin, CloudFront config builders, a TLS certificate, stacks.

The canary origin fails the test that uses it if any protected plaintext the test sent ever reaches it,
in any request body, raw, percent-encoded or inside a gzip/deflate body. Tests register every protected
value they send with `canary.protect(...)`.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from yarl import URL

from edge_proxy import (
    Limits,
    ProxySettings,
    Runtime,
    Timeouts,
    build_admin_app,
    build_app,
    start_site,
)
from keystore.tooling import public_pem
from profiles import load_config_dir


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # the first 4 MiB; `size` has the full length
    size: int
    peer_port: int | None


@dataclass
class Canary:
    """An origin that records what it gets and refuses to ever see a protected plaintext."""

    url: str = ""
    plaintexts: set[bytes] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    aborted: int = 0  # request bodies that broke off before their end

    def protect(self, *values: str | bytes) -> None:
        for value in values:
            self.plaintexts.add(value.encode() if isinstance(value, str) else value)

    def _forms(self) -> set[bytes]:
        out = set()
        for p in self.plaintexts:
            for safe in ("/", ""):
                quoted = quote_from_bytes(p, safe=safe)
                out |= {p, quoted.encode(), quoted.replace("%20", "+").encode()}
        return {o for o in out if o}

    def check(self, what: str, data: bytes) -> None:
        for needle in self._forms():
            if needle in data:
                self.violations.append(f"protected value {needle[:40]!r} reached the origin in {what}")

    @property
    def last(self) -> Received:
        return self.received[-1]


async def _read_and_check(canary: Canary, request: web.Request) -> tuple[bytes, int]:
    needles = canary._forms()
    width = max((len(n) for n in needles), default=1)
    kept: list[bytes] = []
    kept_size = size = 0
    tail = b""
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        window = tail + chunk
        canary.check(f"{request.method} {request.path} body", window)
        tail = window[-width:]
        if kept_size < 4 * 1024 * 1024:
            kept.append(chunk)
            kept_size += len(chunk)
    body = b"".join(kept)
    coding = request.headers.get("Content-Encoding", "").lower()
    if coding in ("gzip", "deflate") and size == kept_size:
        try:
            wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
            canary.check(f"{request.method} {request.path} decoded body", zlib.decompress(body, wbits))
        except zlib.error:
            canary.violations.append("the origin got a compressed body it cannot decode")
    return body, size


def canary_app(canary: Canary) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body, size = await _read_and_check(canary, request)
        except (ConnectionError, asyncio.CancelledError, web.HTTPException, aiohttp.ClientPayloadError):
            canary.aborted += 1
            raise
        peer = request.transport.get_extra_info("peername") if request.transport else None
        canary.received.append(
            Received(request.method, request.path_qs, dict(request.headers), body, size, peer and peer[1])
        )
        if request.path.startswith("/slow/"):
            await asyncio.sleep(float(request.path.rsplit("/", 1)[1]))
        if request.path.startswith("/stream/"):
            response = web.StreamResponse(headers={"X-Origin": "canary"})
            await response.prepare(request)
            for _ in range(int(request.path.rsplit("/", 1)[1])):
                await response.write(b"x" * 65536)
            await response.write_eof()
            return response
        summary = {"method": request.method, "size": size, "content_type": request.content_type}
        return web.json_response(summary, headers={"X-Origin": "canary", "Connection": "keep-alive"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    canary = Canary()
    runner, canary.url = await start_site(canary_app(canary), "127.0.0.1", 0)
    try:
        yield canary
    finally:
        await runner.cleanup()
    assert not canary.violations, canary.violations


# --- CloudFront JSON, in the shapes `aws cloudfront get-*` prints -------------------------------------


def cf_public_key(key_id: str, name: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {
        "ETag": "E1",
        "PublicKey": {
            "Id": key_id,
            "CreatedTime": "2026-11-23T12:00:00.000Z",
            "PublicKeyConfig": {
                "CallerReference": f"ref-{key_id}",
                "Name": name,
                "EncodedKey": public_pem(key.public_key()),
                "Comment": "",
            },
        },
    }


def cf_profile(profile_id: str, entities: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """`entities`: (PublicKeyId, ProviderId, [patterns])."""
    items = [
        {
            "PublicKeyId": key_id,
            "ProviderId": provider,
            "FieldPatterns": {"Quantity": len(patterns), "Items": patterns},
        }
        for key_id, provider, patterns in entities
    ]
    return {
        "ETag": "E2",
        "FieldLevelEncryptionProfile": {
            "Id": profile_id,
            "LastModifiedTime": "2026-11-23T12:00:00.000Z",
            "FieldLevelEncryptionProfileConfig": {
                "Name": f"profile-{profile_id}",
                "CallerReference": f"ref-{profile_id}",
                "Comment": "",
                "EncryptionEntities": {"Quantity": len(items), "Items": items},
            },
        },
    }


def cf_config(
    config_id: str,
    content_types: list[tuple[str, str | None]],
    *,
    forward_unknown_content_type: bool = False,
    query_args: list[tuple[str, str]] = (),  # type: ignore[assignment]
    forward_unknown_query_arg: bool = False,
) -> dict[str, Any]:
    ct_items = [
        {"Format": "URLEncoded", "ContentType": ct, **({"ProfileId": pid} if pid else {})}
        for ct, pid in content_types
    ]
    qa_items = [{"QueryArg": arg, "ProfileId": pid} for arg, pid in query_args]
    return {
        "ETag": "E3",
        "FieldLevelEncryption": {
            "Id": config_id,
            "LastModifiedTime": "2026-11-23T12:00:00.000Z",
            "FieldLevelEncryptionConfig": {
                "CallerReference": f"ref-{config_id}",
                "Comment": "",
                "QueryArgProfileConfig": {
                    "ForwardWhenQueryArgProfileIsUnknown": forward_unknown_query_arg,
                    "QueryArgProfiles": {"Quantity": len(qa_items), "Items": qa_items},
                },
                "ContentTypeProfileConfig": {
                    "ForwardWhenContentTypeIsUnknown": forward_unknown_content_type,
                    "ContentTypeProfiles": {"Quantity": len(ct_items), "Items": ct_items},
                },
            },
        },
    }


def write_config_dir(directory: Path, *documents: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    for index, document in enumerate(documents):
        (directory / f"{index:02d}.json").write_text(json.dumps(document, indent=2))
    return directory


def phone_config_dir(directory: Path, key: rsa.RSAPrivateKey, *, text_passes: bool = False) -> Path:
    """The usual test config: key KA ("KeyA"), provider Alpha, pattern `phone`, for form bodies;
    with `text_passes`, `text/plain` is mapped to no profile (forwarded untouched)."""
    mappings: list[tuple[str, str | None]] = [(FORM, "P1")]
    if text_passes:
        mappings.append(("text/plain", None))
    return write_config_dir(
        directory,
        cf_public_key("KA", "KeyA", key),
        cf_profile("P1", [("KA", "Alpha", ["phone"])]),
        cf_config("C1", mappings),
    )


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


@asynccontextmanager
async def proxy_stack(
    canary: Canary,
    config_dir: Path,
    *,
    origin: str | None = None,
    limits: Limits | None = None,
    timeouts: Timeouts | None = None,
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


FORM = "application/x-www-form-urlencoded"
