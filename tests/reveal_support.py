"""Real pieces for reveal's tests: a CA the test makes, a fake payment processor served over TLS on
loopback with a certificate from that CA, a routes file naming it, and the reveal listener itself."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import hashlib
import ipaddress
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from decryptor import AuditLog, Decryptor
from edge_proxy import start_site, tls_context
from keystore import Keystore
from reveal import load_routes
from reveal.metrics import RevealMetrics
from reveal.server import start_reveal
from reveal.settings import RevealSettings

TOKEN = "billing-token-0123456789"
OTHER_TOKEN = "support-token-9876543210"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def make_pki(directory: Path, common: str = "processor-ca") -> Pki:
    """A CA and a server certificate it signs for 127.0.0.1 and localhost, as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pki


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    connection: int  # id of the TCP transport the request came on (pooling)


HUGE_PIECES = 1024  # of 64 KiB each, in the processor's /huge answer
STREAMED_PIECES = 8  # of 64 KiB each, in the processor's /stream answer


@dataclass
class Processor:
    """The fake payment processor: records every request that reaches it."""

    url: str
    seen: list[Seen] = field(default_factory=list)


def processor_app(seen: list[Seen]) -> web.Application:
    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append(Seen(request.method, request.path_qs, dict(request.headers), body, id(request.transport)))
        if request.path.endswith("/slow"):
            await asyncio.sleep(3)
        if request.path.endswith("/gzip"):
            packed = gzip.compress(b'{"token": "tok_abc"}', mtime=0)
            return web.Response(status=200, body=packed, headers={"Content-Encoding": "gzip"})
        if request.path.endswith("/redirect"):
            return web.Response(status=302, headers={"Location": "https://127.0.0.1:1/elsewhere"})
        if request.path.endswith("/huge"):  # 64 MiB as fast as it is read: more than any socket buffers
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            with contextlib.suppress(ConnectionError):  # the reader went away
                for _ in range(HUGE_PIECES):
                    await response.write(b"h" * 64 * 1024)
                await response.write_eof()
            return response
        if request.path.endswith("/stream") or request.path.endswith("/cut"):
            # chunked, in pieces with pauses: not all there when the head is read; /cut ends it by a reset
            response = web.StreamResponse(status=200, headers={"X-Processor": "fake"})
            await response.prepare(request)
            for piece in range(STREAMED_PIECES):
                await response.write(bytes([65 + piece % 26]) * 64 * 1024)
                await asyncio.sleep(0.01)
                if request.path.endswith("/cut") and piece == 2:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
            await response.write_eof()
            return response
        answer = {"received": body.decode("utf-8", "replace"), "path": request.path_qs}
        return web.Response(status=201, text=json.dumps(answer), content_type="application/json",
                            headers={"X-Processor": "fake"})  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


@asynccontextmanager
async def processor(pki: Pki) -> AsyncIterator[Processor]:
    seen: list[Seen] = []
    tls = tls_context(pki.cert, pki.key)
    listener, url = await start_site(processor_app(seen), "127.0.0.1", 0, ssl_context=tls)
    try:
        yield Processor(url, seen)
    finally:
        await listener.cleanup()


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_routes(
    directory: Path,
    upstream: str,
    *,
    ca_file: Path | None,
    keys: tuple[str, ...] = ("FLEDemo/DemoPublicKey",),
    reveal: tuple[str, ...] = ("card_number", "/card/number"),
    methods: tuple[str, ...] = ("POST",),
) -> Path:
    """A routes file: callers billing (allowed on `processor`) and support (allowed on `other` only)."""

    def strings(items: tuple[str, ...]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    ca_line = f"ca_file = {json.dumps(str(ca_file))}\n" if ca_file else ""
    text = (
        f'[[caller]]\nname = "billing"\ntoken_sha256 = "{sha(TOKEN)}"\n\n'
        f'[[caller]]\nname = "support"\ntoken_sha256 = "{sha(OTHER_TOKEN)}"\n\n'
        f'[[route]]\nname = "processor"\nprefix = "/processor/"\nupstream = "{upstream}/v1/"\n'
        f"methods = {strings(methods)}\nreveal = {strings(reveal)}\nkeys = {strings(keys)}\n"
        f'callers = ["billing"]\n{ca_line}\n'
        f'[[route]]\nname = "other"\nprefix = "/other/"\nupstream = "{upstream}/other/"\n'
        f'methods = ["POST"]\ncallers = ["support"]\n{ca_line}'
    )
    path = directory / "routes.toml"
    path.write_text(text)
    return path


@dataclass
class RevealUnderTest:
    url: str
    audit: Path
    metrics: RevealMetrics

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


@asynccontextmanager
async def reveal_running(
    routes: Path, keystore: Path, audit: Path, settings: RevealSettings | None = None
) -> AsyncIterator[RevealUnderTest]:
    audit_log = AuditLog(str(audit))
    decryptor = Decryptor(Keystore.from_file(keystore))
    config = load_routes(routes)
    metrics = RevealMetrics()
    listener, url = await start_reveal(
        config, decryptor, audit_log, "127.0.0.1", 0, settings=settings, metrics=metrics
    )
    try:
        yield RevealUnderTest(url, audit, metrics)
    finally:
        await listener.cleanup()
        audit_log.close()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Proxy-Authorization": f"Bearer {token}"}
