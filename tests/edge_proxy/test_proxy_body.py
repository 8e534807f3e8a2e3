"""Request bodies through the proxy: strict form parsing, minimal rewriting, compression, streaming, idling.

The rule under every test: a protected value never reaches the canary origin in plaintext.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import zlib
from pathlib import Path
from urllib.parse import parse_qsl, quote_from_bytes

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_proxy import Buffering, Limits, Timeouts
from fields import forms
from tests.edge_proxy.test_proxy_cloudfront import decrypt, post
from tests.fixtures_process import eventually_async
from tests.fixtures_proxy import (
    FORM,
    Canary,
    phone_config_dir,
    proxy_stack,
)

BIG_UPLOAD_MIB = int(os.environ.get("FLE_TEST_BIG_UPLOAD_MIB", "256"))


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return phone_config_dir(tmp_path / "cfg", rsa_key, text_passes=True)


async def test_the_canary_catches_plaintext(canary: Canary) -> None:
    canary.protect("404-555 0150")
    for body in (b"phone=404-555+0150", b"x=404-555%200150", gzip.compress(b"phone=404-555 0150")):
        headers = {"Content-Encoding": "gzip"} if body.startswith(b"\x1f\x8b") else {}
        async with aiohttp.ClientSession() as session, session.post(canary.url, data=body, headers=headers):
            pass
    assert len(canary.violations) == 3
    canary.violations.clear()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"x=1;phone=404-555-0150", b"raw ';'"),
        (b"phone=404-555-0150\r\n", b"control byte 0x0d"),
        (b"phone=404-555-0150&a=%zz", b"percent-escape"),
        (b"ph%FFone=404-555-0150", b"not UTF-8"),
    ],
)
async def test_unparseable_forms_are_refused_with_a_reason(
    canary: Canary, config_dir: Path, body: bytes, detail: bytes
) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(canary, config_dir) as stack:
        status, answer = await post(f"{stack.url}/x", body)
    assert status == 400 and b"MalformedInputClientError" in answer and detail in answer
    assert canary.received == []


async def test_only_protected_bytes_change_and_raw_bytes_are_encrypted(
    canary: Canary, config_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    canary.protect(b"\xff\xfe 1", "404")
    body = b"a=%7e&b=+x+&ph%6Fne=%FF%FE+1&c&=&d=%E2%82%AC&phone=404&e=%2B"
    async with proxy_stack(canary, config_dir) as stack:
        status, _ = await post(f"{stack.url}/x", body)
    assert status == 200
    sent, got = body.split(b"&"), canary.last.body.split(b"&")
    assert len(sent) == len(got)
    for before, after in zip(sent, got, strict=True):
        if before.startswith((b"ph%6Fne=", b"phone=")):
            assert after.startswith(before.partition(b"=")[0] + b"=AYAB")
        else:
            assert before == after
    values = [v for k, v in parse_qsl(canary.last.body.decode(), keep_blank_values=True) if k == "phone"]
    assert [decrypt(v, rsa_key, "Alpha", "KeyA") for v in values] == [b"\xff\xfe 1", b"404"]


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate"])
async def test_compressed_bodies_are_decoded_encrypted_and_re_encoded(
    canary: Canary, config_dir: Path, rsa_key: rsa.RSAPrivateKey, coding: str
) -> None:
    canary.protect("404-555-0150")
    plain = b"name=Jane&phone=404-555-0150"
    data = zlib.compress(plain) if coding == "deflate" else gzip.compress(plain)
    async with proxy_stack(canary, config_dir) as stack:
        status, _ = await post(f"{stack.url}/x", data, headers={"Content-Encoding": coding})
    assert status == 200
    received = canary.last
    assert received.headers["Content-Encoding"] == coding
    wbits = zlib.MAX_WBITS if coding == "deflate" else 16 + zlib.MAX_WBITS
    values = dict(parse_qsl(zlib.decompress(received.body, wbits).decode()))
    assert values["name"] == "Jane" and decrypt(values["phone"], rsa_key, "Alpha", "KeyA") == b"404-555-0150"


async def test_compression_refusals(canary: Canary, config_dir: Path) -> None:
    canary.protect("404-555-0150")
    bomb = gzip.compress(b"phone=404-555-0150&x=" + b"0" * (2 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024 // 10
    cases = [
        (bomb, "gzip", 400, b"RequestLengthLimitClientError"),
        (gzip.compress(b"phone=404-555-0150")[:-6], "gzip", 400, b"MalformedInputClientError"),
        (b"phone=404-555-0150", "br", 415, b"UnsupportedContentEncoding"),
        (
            gzip.compress(gzip.compress(b"phone=404-555-0150")),
            "gzip, gzip",
            415,
            b"UnsupportedContentEncoding",
        ),
    ]
    async with proxy_stack(canary, config_dir) as stack:
        for data, coding, status, reason in cases:
            got, answer = await post(f"{stack.url}/x", data, headers={"Content-Encoding": coding})
            assert (got, reason in answer) == (status, True), (coding, answer)
    assert canary.received == []


async def test_forwarded_compressed_body_passes_unread(canary: Canary, config_dir: Path) -> None:
    data = gzip.compress(b"anything at all")
    async with proxy_stack(canary, config_dir) as stack:
        status, _ = await post(f"{stack.url}/x", data, "text/plain", headers={"Content-Encoding": "gzip"})
    assert status == 200 and canary.last.body == data and canary.last.headers["Content-Encoding"] == "gzip"


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_unprotected_upload_and_download_stream_in_constant_memory(
    canary: Canary, config_dir: Path
) -> None:
    chunk = os.urandom(256 * 1024)
    total = BIG_UPLOAD_MIB * 1024 * 1024
    peak = start = _rss()
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss())
            await asyncio.sleep(0.05)

    async def upload():  # type: ignore[no-untyped-def]
        for _ in range(total // len(chunk)):
            yield chunk

    sampler = asyncio.create_task(sample())
    async with proxy_stack(canary, config_dir) as stack:
        headers = {"Content-Length": str(total)}
        status, _ = await post(f"{stack.url}/up", upload(), "text/plain", method="PUT", headers=headers)
        assert status == 200 and canary.last.size == total
        assert canary.last.headers["Content-Length"] == str(total)  # passed on, not re-chunked
        async with aiohttp.ClientSession() as session, session.get(f"{stack.url}/stream/800") as response:
            got = 0
            async for piece in response.content.iter_chunked(65536):
                got += len(piece)
        assert got == 800 * 65536
    stop.set()
    await sampler
    print(f"upload {BIG_UPLOAD_MIB} MiB + download 50 MiB: RSS grew {(peak - start) / 2**20:.1f} MiB")
    assert peak - start < 96 * 1024 * 1024, (
        f"RSS grew by {(peak - start) >> 20} MiB for a {BIG_UPLOAD_MIB} MiB upload"
    )


async def _stall(url: str, body_prefix: bytes, content_type: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: "
        + content_type.encode()
        + b"\r\nContent-Length: 100\r\n\r\n"
        + body_prefix
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


async def test_idle_client_is_cut_off(canary: Canary, config_dir: Path) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(canary, config_dir, timeouts=Timeouts(client_idle=0.5)) as stack:
        answer = await _stall(stack.url, b"phone=404-555-0150", FORM)
        assert answer.startswith(b"HTTP/1.1 408") and b"ClientIdleTimeout" in answer
        assert canary.received == []
        answer = await _stall(stack.url, b"hello", "text/plain")
        assert answer.startswith(b"HTTP/1.1 408")
        # buffered before an origin connection was taken: the origin saw nothing of it
        assert canary.received == [] and canary.aborted == 0
    async with proxy_stack(
        canary, config_dir, timeouts=Timeouts(client_idle=0.5), buffering=Buffering(request=False)
    ) as stack:
        answer = await _stall(stack.url, b"hello", "text/plain")
        assert answer.startswith(b"HTTP/1.1 408")
        await eventually_async(lambda: canary.aborted == 1)  # streamed: the origin saw the upload cut...
        assert canary.received == []  # ... not completed


_NAMES = st.sampled_from(["phone", "ph%6Fne", "%70hone", "phone%20", "phon", "name", "PHONE", "ph+one"])
_VALUE_BYTES = st.binary(max_size=12)


def _encode_value(data: bytes, style: int) -> bytes:
    if style == 0:
        return quote_from_bytes(data, safe="").encode()
    if style == 1:
        return quote_from_bytes(data).replace("%20", "+").encode()
    return "".join(f"%{b:02x}" for b in data).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUE_BYTES, st.integers(0, 2)), max_size=8))
def test_property_no_parser_finds_a_protected_plaintext(pairs: list[tuple[str, bytes, int]]) -> None:
    """Whatever the spelling, every value an origin's parser files under `phone` is a ciphertext."""
    from profiles import load_config_dir as load

    profile = load(Path(__file__).parents[2] / "profiles" / "examples").only_config()
    entity_profile = profile.content_type_profiles[0].profile
    assert entity_profile is not None
    body = b"&".join(name.encode() + b"=" + _encode_value(value, style) for name, value, style in pairs)

    def fake_encrypt(value: bytes, entity: object) -> bytes:
        return base64.b64encode(b"\x00ENC" + value)

    out, count = forms.rewrite(body, entity_profile, fake_encrypt, Limits(max_encrypted_fields=100))
    before = [k for k, _ in parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")]
    parsed = parse_qsl(out.decode("ascii"), keep_blank_values=True, encoding="latin-1")
    assert [k for k, _ in parsed] == before  # same fields, same order
    protected = [v for k, v in parsed if entity_profile.selection.tag_for(k) is not None]
    assert len(protected) == count and {v for k, v in parsed if k == "phone"} <= set(protected)
    for value in protected:
        assert base64.b64decode(value).startswith(b"\x00ENC")
