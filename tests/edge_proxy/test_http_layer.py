"""The HTTP layer of issue 24: what the origin receives is what the edge decided on.

- A Connection header naming a header the edge decides on (Content-Type, Content-Length, Transfer-Encoding,
  Content-Encoding, Host) is refused; before, the edge encrypted by the JSON profile and then dropped
  Content-Type, and Rack (its defaults: a POST without a media type is a form) read `phone` in plaintext.
- A POST body without Content-Type is read as a form, as Rack reads it.
- A header byte that is not UTF-8 (a Latin-1 cookie) passes through as the byte it was, never a 500.
- A non-websocket Upgrade (h2c) is answered and the connection closed: a request pipelined behind it is
  never left waiting.
- A multipart body under a profile that arrives with a Content-Length (within the whole-body limit) goes to
  the origin with a Content-Length (Django's development server reads a chunked body as empty).
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Buffering
from tests.fixtures_default_origins import running_default_origins
from tests.fixtures_origins import ROOT, Origin, _read_port, start_origin, stop_origins
from tests.fixtures_proxy import Canary, cf_config, cf_profile, cf_public_key, proxy_stack, write_config_dir
from tests.harness_check import is_ciphertext

pytestmark = pytest.mark.both_loops

FORM = "application/x-www-form-urlencoded"
PHONE = "5551234"
BOUNDARY = "fle-http-layer"


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """Form and multipart protect `phone`; JSON protects `/phone`."""
    config = cf_config(
        "C1", [(FORM, "PF"), ("application/json", "PJ", "JSON"), ("multipart/form-data", "PM", "Multipart")]
    )
    return write_config_dir(
        tmp_path / "cfg",
        cf_public_key("K1", "DemoPublicKey", rsa_key),
        cf_profile("PF", [("K1", "FLEDemo", ["phone"])]),
        cf_profile("PJ", [("K1", "FLEDemo", ["/phone"])]),
        cf_profile("PM", [("K1", "FLEDemo", ["phone"])]),
        config,
    )


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    """Rack 2.2 under WEBrick, reading `Rack::Request#POST` with its defaults (origins/rack_defaults.rb)."""
    with running_default_origins(tmp_path_factory.mktemp("rack"), ("rack-defaults",)) as origins:
        yield origins[0]


@pytest.fixture(scope="module")
def django_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Django's own development server reading request.POST (tests/origins/django_origin.py)."""
    out = tmp_path_factory.mktemp("django") / "django.out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = start_origin([sys.executable, "django_origin.py"], env, out)
    try:
        yield f"http://127.0.0.1:{_read_port(process, out, time.monotonic() + 60)}"
    finally:
        stop_origins([process])


async def exchange(url: str, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the proxy closes the connection; TimeoutError if it never does."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()


def request(method: str, *headers: str, body: bytes = b"", length: bool = True) -> bytes:
    head = [f"{method} /submit HTTP/1.1", "Host: shop.example", *headers]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def answer_json(answer: bytes) -> dict[str, object]:
    """The JSON body of a raw HTTP/1.1 answer, whatever its framing."""
    response = http.client.HTTPResponse(_Bytes(answer))  # type: ignore[arg-type]
    response.begin()
    return json.loads(response.read())  # type: ignore[no-any-return]


# --- Connection may not name what the edge decides on ---------------------------------------------------


JSON_BODY = json.dumps({"note": f"x&phone={PHONE}&y", "phone": "5550000"}).encode()


@pytest.mark.parametrize(
    "connection",
    [
        "Content-Type",
        "close, content-type",
        "Content-Length",
        "Transfer-Encoding",
        "Content-Encoding",
        "HOST",
    ],
)
async def test_a_connection_header_naming_a_decisive_header_is_refused(
    canary: Canary, config_dir: Path, rack: Origin, connection: str
) -> None:
    """Issue 24 finding 1: before, the JSON body went out without its Content-Type and Rack read `phone`."""
    sent = request("POST", f"Connection: {connection}", "Content-Type: application/json", body=JSON_BODY)
    async with proxy_stack(canary, config_dir, origin=rack.url) as stack:
        answer = await exchange(stack.url, sent)
        text = stack.runtime.metrics.exposition().decode()
    assert status_of(answer) == 400, answer[:600]
    assert answer_json(answer)["error"] == "HopByHopNominationClientError"
    assert 'fle_proxy_refusals_total{reason="HopByHopNominationClientError"} 1.0' in text


async def test_a_second_connection_header_naming_content_type_is_refused(
    canary: Canary, config_dir: Path
) -> None:
    sent = request(
        "POST", "Connection: keep-alive", "Connection: Content-Type", f"Content-Type: {FORM}", body=b"a=1"
    )
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, sent)
    assert status_of(answer) == 400 and canary.received == []


async def test_a_connection_header_naming_other_headers_still_drops_them(
    canary: Canary, config_dir: Path
) -> None:
    sent = request(
        "POST", "Connection: keep-alive, X-Trace, close", "X-Trace: 1", "X-Kept: 2",
        f"Content-Type: {FORM}", body=b"a=1",
    )  # fmt: skip
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, sent)
    assert status_of(answer) == 200
    assert "X-Trace" not in canary.last.headers and canary.last.headers["X-Kept"] == "2"


@pytest.fixture
def forwarding_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """Forms protect `phone`; a media type the config does not list is forwarded (CloudFront's
    ForwardWhenContentTypeIsUnknown), and so was a body without Content-Type."""
    return write_config_dir(
        tmp_path / "fwd",
        cf_public_key("K1", "DemoPublicKey", rsa_key),
        cf_profile("PF", [("K1", "FLEDemo", ["phone"])]),
        cf_config("C1", [(FORM, "PF")], forward_unknown_content_type=True),
    )


async def test_a_post_without_content_type_is_read_as_rack_reads_it(
    canary: Canary, forwarding_dir: Path, rack: Origin
) -> None:
    """Rack reads a POST body without a media type as a form; where such a body would be forwarded, the
    edge reads it as a form too and encrypts `phone` (before: forwarded, and Rack read it in plaintext)."""
    sent = request("POST", "Connection: close", body=f"a=1&phone={PHONE}".encode())
    empty = request("POST", "Connection: close", "Content-Type: ", body=f"a=1&phone={PHONE}".encode())
    async with proxy_stack(canary, forwarding_dir, origin=rack.url) as stack:
        answer = await exchange(stack.url, sent)
        refused = await exchange(stack.url, empty)
    assert answer_json(refused)["error"] == "MalformedContentTypeClientError"  # an empty one: not forwarded
    assert status_of(answer) == 200, answer[:600]
    read = {tuple(path): value for path, value in answer_json(answer)["fields"]}  # type: ignore[union-attr]
    assert read[("a",)] == "1" and is_ciphertext(read[("phone",)]), read


async def test_a_put_without_content_type_is_forwarded_as_sent(canary: Canary, forwarding_dir: Path) -> None:
    """Only a POST is read as a form without a media type (Rack's rule); other methods are forwarded."""
    sent = request("PUT", "Connection: close", body=b"raw bytes")
    async with proxy_stack(canary, forwarding_dir) as stack:
        answer = await exchange(stack.url, sent)
    assert status_of(answer) == 200 and canary.last.body == b"raw bytes"


# --- header bytes that are not UTF-8 -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_latin1_header_byte_passes_through_as_sent(
    canary: Canary, config_dir: Path, method: str
) -> None:
    """Issue 24 finding 6: a Latin-1 cookie answered 500, GET included."""
    body = b"a=1" if method == "POST" else b""
    head = request(method, "Connection: close", f"Content-Type: {FORM}", "Cookie: name=Ren\xe9e", body=body)
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, head)
    assert status_of(answer) == 200, answer[:600]
    assert canary.last.headers["Cookie"].encode("utf-8", "surrogateescape") == b"name=Ren\xe9e"


@pytest.mark.parametrize(
    "header", ["User-Agent: caf\xe9", "X-Forwarded-For: 10.0.0.\xb9", "Referer: /\xff\xfe"]
)
async def test_other_latin1_header_bytes_pass_through(canary: Canary, config_dir: Path, header: str) -> None:
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, request("GET", "Connection: close", header, length=False))
    assert status_of(answer) == 200, answer[:600]
    name, _, value = header.partition(": ")
    got = canary.last.headers[name].encode("utf-8", "surrogateescape")
    assert got.startswith(value.encode("latin-1")), got


async def test_a_latin1_byte_in_the_content_type_is_a_clear_400(canary: Canary, config_dir: Path) -> None:
    """The Content-Type is read by the edge: outside its grammar it is refused, never a 500."""
    sent = request("POST", "Connection: close", f"Content-Type: {FORM}; charset=\xe9", body=b"a=1")
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, sent)
    assert answer_json(answer)["error"] == "MalformedContentTypeClientError" and canary.received == []


# --- Upgrade ---------------------------------------------------------------------------------------------


async def test_a_request_pipelined_behind_an_h2c_upgrade_is_never_left_waiting(
    canary: Canary, config_dir: Path
) -> None:
    """Issue 24 finding 6: aiohttp's parser drops what follows a non-websocket Upgrade; the proxy answers the
    upgrade request over HTTP/1.1 and closes, so the client sees the close and retries the second request
    (before: the connection stayed open and the second request was never answered)."""
    first = request(
        "GET", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", length=False,
    )  # fmt: skip
    second = request("GET", "Connection: close", length=False)
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, first + second, timeout=5)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b"Connection: close" in answer.partition(b"\r\n\r\n")[0] or answer.count(b"HTTP/1.1 200 ") == 2
    assert "Upgrade" not in canary.received[0].headers


async def test_a_post_with_an_h2c_upgrade_is_encrypted_answered_and_closed(
    canary: Canary, config_dir: Path
) -> None:
    canary.protect(PHONE)
    first = request(
        "POST", "Connection: Upgrade", "Upgrade: h2c", f"Content-Type: {FORM}", body=f"phone={PHONE}".encode()
    )
    second = request("GET", "Connection: close", length=False)
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, first + second, timeout=5)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert canary.received[0].body.startswith(b"phone=AYA")


async def test_a_request_pipelined_behind_a_websocket_upgrade_is_answered(
    canary: Canary, config_dir: Path
) -> None:
    first = request(
        "GET", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", length=False,
    )  # fmt: skip
    second = request("GET", "Connection: close", length=False)
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, first + second, timeout=5)
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer[:600]


# --- multipart framing -----------------------------------------------------------------------------------


def multipart_body() -> bytes:
    parts = [("name", "Jane"), ("phone", PHONE)]
    out = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in parts
    )
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART_HEAD = f"Content-Type: multipart/form-data; boundary={BOUNDARY}"


async def test_a_multipart_body_sent_with_a_length_goes_on_with_a_length(
    canary: Canary, config_dir: Path
) -> None:
    canary.protect(PHONE)
    sent = request("POST", "Connection: close", MULTIPART_HEAD, body=multipart_body())
    async with proxy_stack(canary, config_dir) as stack:
        answer = await exchange(stack.url, sent)
    assert status_of(answer) == 200, answer[:600]
    got = canary.last
    assert "Transfer-Encoding" not in got.headers and int(got.headers["Content-Length"]) == len(got.body)


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "streamed"])
async def test_a_chunked_multipart_body_goes_on_chunked(
    canary: Canary, config_dir: Path, buffered: bool
) -> None:
    """Streamed (--request-buffering off), it goes on chunked; buffered (the default), it is read whole
    before it goes, so it goes with its length (docs/proxy.md#buffering)."""
    canary.protect(PHONE)
    body = multipart_body()
    chunked = b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    sent = request(
        "POST", "Connection: close", MULTIPART_HEAD, "Transfer-Encoding: chunked", body=chunked, length=False
    )
    async with proxy_stack(canary, config_dir, buffering=Buffering(request=buffered)) as stack:
        answer = await exchange(stack.url, sent)
    assert status_of(answer) == 200, answer[:600]
    got = canary.last
    if buffered:
        assert "Transfer-Encoding" not in got.headers and int(got.headers["Content-Length"]) == len(got.body)
    else:
        assert got.headers.get("Transfer-Encoding") == "chunked"


async def test_django_development_server_reads_a_multipart_body_sent_with_a_length(
    canary: Canary, config_dir: Path, django_dev: str
) -> None:
    """Issue 24 finding 6: multipart was always forwarded chunked, and Django's development server read it
    as an empty body (fields silently lost), contrary to docs/cloudfront.md D2."""
    sent = request("POST", "Connection: close", MULTIPART_HEAD, body=multipart_body())
    async with proxy_stack(canary, config_dir, origin=django_dev) as stack:
        answer = await exchange(stack.url, sent)
    assert status_of(answer) == 200, answer[:600]
    read = {tuple(path): value for path, value in answer_json(answer)["fields"]}  # type: ignore[union-attr]
    assert read[("name",)] == "Jane" and is_ciphertext(read[("phone",)]), read
