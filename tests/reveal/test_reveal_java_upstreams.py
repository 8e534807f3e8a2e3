"""Route containment against real Java upstreams: Tomcat 10.1 and Jetty 9.4 (Debian), over verified TLS.

Each upstream (tests/reveal/upstreams/) serves the route's upstream path /api/v1/* ("route"), and an
"internal" servlet at /internal/* that echoes what it gets, outside the route. A caller allowed on the
`processor` route (prefix /processor/ -> https://127.0.0.1:PORT/api/v1/) sends a ciphertext card number
under path forms that Tomcat or Jetty normalise out of /api/v1/ (`..;` path parameters, encoded dots, ...).
Sent straight to the upstream, the forms marked ESCAPES do reach "internal" (checked here, so the attack
is real); through reveal, every form must be refused with 400 PathRefused and an audit line, and the
upstream must see nothing: no request, no plaintext.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)

from tests.fixtures_decryptor import proxy_encrypt
from tests.fixtures_origins import JETTY_JARS, JVM_FLAGS
from tests.helpers import write_file_keystore
from tests.reveal_support import TOKEN, Pki, RevealUnderTest, make_pki, reveal_running, write_routes

SOURCES = Path(__file__).parent / "upstreams"
JAVA = Path("/usr/share/java")
# Debian's libtomcat10-java: embedded Tomcat (catalina, coyote), its servlet API (jakarta.servlet), utilities
TOMCAT_JARS = [
    str(JAVA / f"tomcat10-{name}.jar")
    for name in ("catalina", "coyote", "util", "util-scan", "api", "juli", "servlet-api", "jni", "jaspic-api",
                 "annotations-api")
]  # fmt: skip
CARD = b"4111111111111111"
PASSWORD = "changeit"

# the rest of the path after /processor/, and whether it leaves /api/v1/ when sent to the upstream directly
# (True: asserted; None: whatever the server does, reveal must refuse it)
ATTACKS: list[tuple[str, dict[str, bool | None]]] = [
    ("..;/..;/internal/echo", {"tomcat": True, "jetty": None}),  # issue 24, finding 4
    ("..;a=b/..;a=b/internal/echo", {"tomcat": True, "jetty": None}),
    (".;/..;/..;/internal/echo", {"tomcat": True, "jetty": None}),
    ("%2e%2e;/%2e%2e;/internal/echo", {"tomcat": True, "jetty": None}),
    ("/..;/..;/internal/echo", {"tomcat": True, "jetty": None}),  # `//` then path parameters
    ("%2e%2e/%2e%2e/internal/echo", {"tomcat": True, "jetty": True}),  # encoded dots
    (".%2e/.%2e/internal/echo", {"tomcat": True, "jetty": True}),
    ("..%2f..%2finternal/echo", {"tomcat": None, "jetty": True}),  # Jetty 9 decodes an encoded '/'
    ("..%3b/..%3b/internal/echo", {"tomcat": None, "jetty": None}),  # an encoded ';'
    ("..%5c..%5cinternal/echo", {"tomcat": None, "jetty": None}),
    ("..\\..\\internal\\echo", {"tomcat": None, "jetty": None}),
    ("%c0%ae%c0%ae/%c0%ae%c0%ae/internal/echo", {"tomcat": None, "jetty": None}),  # overlong UTF-8 '.'
    ("%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/internal/echo", {"tomcat": None, "jetty": None}),
    ("%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/internal/echo", {"tomcat": None, "jetty": None}),  # U+FF0E
    ("%u002e%u002e/%u002e%u002e/internal/echo", {"tomcat": None, "jetty": None}),  # IIS-style %u escape
    ("%252e%252e/%252e%252e/internal/echo", {"tomcat": None, "jetty": None}),  # double encoding
    ("..%00/..%00/internal/echo", {"tomcat": None, "jetty": None}),
    (".../internal/echo", {"tomcat": None, "jetty": None}),
    ("x;jsessionid=1/charges", {"tomcat": None, "jetty": None}),  # a path parameter, harmless or not
]


@dataclass(frozen=True)
class Upstream:
    name: str
    port: int
    out: Path  # the server's stdout: LISTENING, then one SEEN line per request

    def seen(self) -> list[tuple[str, str, bytes]]:
        """(servlet, request URI, body) of every request the upstream answered so far."""
        lines = [line.split(" ") for line in self.out.read_text().splitlines() if line.startswith("SEEN ")]
        return [(parts[1], parts[2], base64.b64decode(parts[3] if len(parts) > 3 else "")) for parts in lines]


def _keystore(pki: Pki, path: Path) -> Path:
    """The server certificate and key of `pki` as a PKCS12 keystore, which Tomcat and Jetty read."""
    key = load_pem_private_key(pki.key.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(pki.cert.read_bytes())
    encryption = BestAvailableEncryption(PASSWORD.encode())
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"upstream", key, cert, None, encryption))  # type: ignore[arg-type]
    return path


def _start(name: str, command: list[str], tmp: Path, stack: list[subprocess.Popen[bytes]]) -> Upstream:
    out = tmp / f"{name}.out"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            command, cwd=tmp, stdout=stdout, stderr=(tmp / f"{name}.err").open("wb"), start_new_session=True
        )
    stack.append(process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = out.read_text()
        if "LISTENING " in text:
            return Upstream(name, int(text.split("LISTENING ")[1].split()[0]), out)
        assert process.poll() is None, f"{name} exited: {(tmp / f'{name}.err').read_text()[-2000:]}"
        time.sleep(0.05)
    raise AssertionError(f"{name} never listened")


@pytest.fixture(scope="module")
def java_upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pki, dict[str, Upstream]]]:
    """Tomcat 10.1 and Jetty 9.4 upstreams over TLS (a CA made here), compiled into tmp and started once."""
    assert shutil.which("javac"), "javac is not installed (scripts/install.sh --test)"
    missing = [jar for jar in TOMCAT_JARS + JETTY_JARS if not Path(jar).is_file()]
    assert not missing, f"{missing} missing (scripts/install.sh --test: libtomcat10-java, libjetty9-java)"
    tmp = tmp_path_factory.mktemp("java-upstreams")
    pki = make_pki(tmp / "pki")
    keystore = _keystore(pki, tmp / "upstream.p12")
    (tmp / "tomcat-base").mkdir()
    flags = [flag.format(tmp=tmp) for flag in JVM_FLAGS]
    servers = {
        "tomcat": ("TomcatUpstream", TOMCAT_JARS, [str(keystore), PASSWORD, str(tmp / "tomcat-base")]),
        "jetty": ("JettyUpstream", JETTY_JARS, [str(keystore), PASSWORD]),
    }
    started: list[subprocess.Popen[bytes]] = []
    upstreams = {}
    try:
        for name, (main, jars, args) in servers.items():
            classes = tmp / f"{name}-classes"
            subprocess.run(
                ["javac", "-nowarn", "-d", str(classes), "-cp", os.pathsep.join(jars), f"{main}.java"],
                cwd=SOURCES, check=True, timeout=300, capture_output=True,
            )  # fmt: skip
            classpath = os.pathsep.join([str(classes), *jars])
            upstreams[name] = _start(name, ["java", *flags, "-cp", classpath, main, *args], tmp, started)
        yield pki, upstreams
    finally:
        for process in started:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.fixture
async def reveal_to(
    tmp_path: Path, rsa_key, java_upstreams: tuple[Pki, dict[str, Upstream]], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[dict[str, RevealUnderTest]]:
    """One reveal listener per upstream: route `processor`, /processor/ -> https://127.0.0.1:PORT/api/v1/."""
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    pki, upstreams = java_upstreams
    reveals: dict[str, RevealUnderTest] = {}
    async with (
        reveal_running(
            write_routes(_mkdir(tmp_path / "tomcat"), f"https://127.0.0.1:{upstreams['tomcat'].port}/api",
                         ca_file=pki.ca), keystore, tmp_path / "tomcat" / "audit.jsonl",
        ) as reveals["tomcat"],
        reveal_running(
            write_routes(_mkdir(tmp_path / "jetty"), f"https://127.0.0.1:{upstreams['jetty'].port}/api",
                         ca_file=pki.ca), keystore, tmp_path / "jetty" / "audit.jsonl",
        ) as reveals["jetty"],
    ):  # fmt: skip
        yield reveals


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


async def _exchange(host: str, port: int, target: str, body: bytes, headers: str,
                    tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:  # fmt: skip
    """POST `body` with the request target sent byte for byte; (status, answer body)."""
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    try:
        writer.write(
            f"POST {target} HTTP/1.1\r\nHost: {host}\r\n{headers}"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


def _card_body(rsa_key) -> bytes:  # type: ignore[no-untyped-def]
    return f"amount=1&card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}".encode()


async def via_reveal(reveal: RevealUnderTest, rest: str, body: bytes) -> tuple[int, bytes]:
    host, port = reveal.url.removeprefix("http://").split(":")
    auth = f"Proxy-Authorization: Bearer {TOKEN}\r\n"
    return await _exchange(host, int(port), f"/processor/{rest}", body, auth)


@pytest.mark.parametrize("server", ["tomcat", "jetty"])
async def test_a_plain_request_reaches_the_route_servlet_with_the_card_in_plaintext(
    server: str, reveal_to: dict[str, RevealUnderTest], java_upstreams, rsa_key
) -> None:
    """The control: reveal really forwards to these servers over verified TLS, plaintext on arrival."""
    upstream = java_upstreams[1][server]
    before = len(upstream.seen())
    status, answer = await via_reveal(reveal_to[server], "charges", _card_body(rsa_key))
    assert status == 200 and json.loads(answer)["servlet"] == "route"
    [(servlet, uri, body)] = upstream.seen()[before:]
    assert (servlet, uri) == ("route", "/api/v1/charges") and b"card_number=" + CARD in body


@pytest.mark.parametrize("server", ["tomcat", "jetty"])
@pytest.mark.parametrize(("rest", "escapes"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_a_path_the_upstream_would_normalise_out_of_the_route_is_refused_before_decryption(
    server: str, rest: str, escapes: dict[str, bool | None], reveal_to: dict[str, RevealUnderTest],
    java_upstreams, rsa_key,
) -> None:  # fmt: skip
    pki, upstreams = java_upstreams
    upstream = upstreams[server]
    if escapes[server]:  # the attack is real: straight to the server, this form leaves /api/v1/
        tls = ssl.create_default_context(cafile=str(pki.ca))
        status, answer = await _exchange("127.0.0.1", upstream.port, f"/api/v1/{rest}", b"probe=1", "", tls)
        assert status == 200 and json.loads(answer)["servlet"] == "internal", answer
    before = len(upstream.seen())
    status, answer = await via_reveal(reveal_to[server], rest, _card_body(rsa_key))
    assert (status, json.loads(answer)) == (400, {"error": "PathRefused"})
    assert upstream.seen()[before:] == []  # nothing reached the server: no request, no plaintext
    [line] = [line for line in reveal_to[server].audit_lines() if line["phase"] == "refused"]
    assert (line["caller"], line["route"], line["reason"]) == ("billing", "processor", "PathRefused")
    assert CARD.decode() not in reveal_to[server].audit.read_text()
