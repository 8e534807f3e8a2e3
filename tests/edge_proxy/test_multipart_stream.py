"""Multipart bodies stream through the real proxy to the canary origin, rewritten on the way.

The canary fails a test if any registered protected plaintext reaches it, in any request, complete or cut.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aws_encryption_sdk
import pytest
from aiohttp import web
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Buffering
from edge_proxy.pipeline import multipart_stream
from tests.fixtures_process import eventually_async
from tests.fixtures_proxy import Canary, cf_config, cf_profile, cf_public_key, proxy_stack, write_config_dir
from tests.helpers import raw_master_key, serving

BOUNDARY = "----fle-stream-test"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CARD = b"4111 1111 1111 1111"


def part(name: str, content: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    config = cf_config("C1", [("multipart/form-data", "P1", "Multipart")])
    return write_config_dir(
        tmp_path / "config",
        cf_public_key("K1", "DemoPublicKey", rsa_key),
        cf_profile("P1", [("K1", "FLEDemo", ["card", "secret_*"])]),
        config,
    )


async def post(url: str, data: bytes | AsyncIterator[bytes], **headers: str) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=data, headers={"Content-Type": CONTENT_TYPE, **headers}
        ) as response:
            return response.status, await response.json()


def sdk_decrypt(value: bytes, key: rsa.RSAPrivateKey) -> bytes:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    plaintext, _ = client.decrypt(source=base64.b64decode(value), key_provider=raw_master_key(key))
    return plaintext  # type: ignore[no-any-return]


async def test_an_upload_larger_than_the_whole_body_limit_streams_with_its_protected_part_encrypted(
    canary: Canary, config_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    video = bytes(range(256)) * (12 * 4096)  # 12 MiB: 12 times what a body read whole may have
    canary.protect(CARD)
    sent = body(part("name", b"Jane"), part("card", CARD), part("video", video, "v.bin"), part("n", b"1"))
    async with proxy_stack(canary, config_dir) as stack:
        status, answer = await post(f"{stack.url}/upload", sent)
    assert status == 200 and answer["size"] == canary.last.size
    got = canary.last.body
    # read whole before it went out (request buffering): sent with its exact length, not chunked
    assert int(canary.last.headers["Content-Length"]) == canary.last.size
    _head, _, rest = got.partition(b'name="card"\r\n\r\n')
    ciphertext = rest.split(b"\r\n", 1)[0]
    assert sdk_decrypt(ciphertext, rsa_key) == CARD
    expected = sent.replace(CARD, ciphertext)  # every other byte as sent
    assert canary.last.size == len(expected) and got == expected[: len(got)]  # the canary keeps 4 MiB


async def test_a_streamed_client_body_without_length_is_rewritten_as_it_arrives(
    canary: Canary, config_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    secret = b"passport X1234567"
    canary.protect(secret)
    sent = body(part("secret_passport", secret), part("file", b"\x00\xff" * 300_000, "f.bin"))

    async def dribble() -> AsyncIterator[bytes]:
        for start in range(0, len(sent), 7_777):  # chunks that cut delimiters and headers anywhere
            yield sent[start : start + 7_777]

    async with proxy_stack(canary, config_dir) as stack:
        status, _answer = await post(f"{stack.url}/upload", dribble())
    assert status == 200
    ciphertext = canary.last.body.split(b'name="secret_passport"\r\n\r\n', 1)[1].split(b"\r\n", 1)[0]
    assert sdk_decrypt(ciphertext, rsa_key) == secret
    assert canary.last.body == sent.replace(secret, ciphertext)


@pytest.mark.parametrize(
    ("late_part", "reason"),
    [
        (part("card", b"9" * (16 * 1024 + 1)), "FieldLengthLimitClientError"),  # over max_field_bytes
        (
            b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n",
            "MalformedMultipartClientError",
        ),
    ],
    ids=["protected-part-too-long", "part-without-disposition"],
)
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "streamed"])
async def test_a_refusal_mid_stream_answers_the_refusal_and_the_origin_sees_only_a_cut_body(
    canary: Canary, config_dir: Path, late_part: bytes, reason: str, buffered: bool
) -> None:
    """Buffered (the default), the refusal comes before an origin connection is taken: the origin sees
    nothing; streamed (--request-buffering off), it sees the body start, then a cut."""
    canary.protect(b"9" * 64)  # the protected part's content never reaches the origin, even cut
    first = part("photo", b"p" * 400_000, "p.jpg")

    async def client_body() -> AsyncIterator[bytes]:
        yield first
        await asyncio.sleep(0.2)  # the proxy has sent the photo on by now
        yield late_part + f"--{BOUNDARY}--\r\n".encode()

    async with proxy_stack(canary, config_dir, buffering=Buffering(request=buffered)) as stack:
        status, answer = await post(f"{stack.url}/upload", client_body())
        assert (status, answer["error"]) == (400, reason)  # the refusal, not a 502
        await eventually_async(lambda: canary.aborted == (0 if buffered else 1))
    assert canary.received == []


def _hidden_part(before: bytes) -> bytes:
    """A delimiter after `before` (not CRLF) and a protected part: Werkzeug reads a `card` part there."""
    return (
        before + f"--{BOUNDARY}\r\n".encode() + b'Content-Disposition: form-data; name="card"\r\n\r\n' + CARD
    )


@pytest.mark.parametrize(
    ("before", "cut"),
    [(b"\n", 1), (b"\n", 3), (b"\r", 1), (b"\r", 6), (b"x", 2), (b"\n\n", 0)],
    ids=["lf|--", "lf--|", "cr|--", "cr--bo|", "text-before", "lf-lf"],
)
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "streamed"])
async def test_a_delimiter_not_after_crlf_is_refused_mid_stream_and_the_hidden_part_never_sent(
    canary: Canary, config_dir: Path, before: bytes, cut: int, buffered: bool
) -> None:
    """The rewriter searches for the delimiter text itself and keeps back enough bytes to see it whole.

    The unprotected photo is released as it streams; the bytes from the hidden delimiter on never are,
    wherever the chunks cut it (`cut`: bytes of the hidden delimiter sent in the first chunk).
    """
    canary.protect(CARD)
    hidden = _hidden_part(before)
    first = f"--{BOUNDARY}\r\n".encode() + b'Content-Disposition: form-data; name="photo"\r\n\r\n'
    first += b"p" * 300_000 + hidden[:cut]

    async def client_body() -> AsyncIterator[bytes]:
        yield first
        await asyncio.sleep(0.2)  # the proxy has sent the photo on by now
        yield hidden[cut:] + f"\r\n--{BOUNDARY}--\r\n".encode()

    async with proxy_stack(canary, config_dir, buffering=Buffering(request=buffered)) as stack:
        status, answer = await post(f"{stack.url}/upload", client_body())
        assert (status, answer["error"]) == (400, "MalformedMultipartClientError")
        # streamed, the photo went on, then the body was cut; buffered, nothing went
        await eventually_async(lambda: canary.aborted == (0 if buffered else 1))
    assert canary.received == []


async def test_a_bad_boundary_is_refused_before_anything_is_sent(canary: Canary, config_dir: Path) -> None:
    async with proxy_stack(canary, config_dir) as stack:
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": "multipart/form-data"}
            async with session.post(
                f"{stack.url}/u", data=body(part("a", b"1")), headers=headers
            ) as response:
                assert response.status == 400
                assert (await response.json())["error"] == "MalformedMultipartClientError"
        await asyncio.sleep(0.1)  # a quiet period for the negative check below, not a wait for a condition
    assert canary.received == [] and canary.aborted == 0


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "streamed"])
async def test_the_streamed_body_limit_refuses_declared_and_undeclared_lengths(
    canary: Canary, config_dir: Path, monkeypatch: pytest.MonkeyPatch, buffered: bool
) -> None:
    monkeypatch.setattr(multipart_stream, "MAX_STREAMED_BYTES", 256 * 1024)
    sent = body(part("file", b"f" * 300_000, "f.bin"))

    async def undeclared() -> AsyncIterator[bytes]:
        for start in range(0, len(sent), 65_536):
            yield sent[start : start + 65_536]
            await asyncio.sleep(0.02)  # so the proxy sends some on before the limit is crossed

    async with proxy_stack(canary, config_dir, buffering=Buffering(request=buffered)) as stack:
        status, answer = await post(f"{stack.url}/u", sent)  # Content-Length declared: refused up front
        assert (status, answer["error"]) == (400, "RequestLengthLimitClientError")
        assert canary.aborted == 0 and canary.received == []
        status, answer = await post(f"{stack.url}/u", undeclared())  # chunked: refused once over the limit
        assert (status, answer["error"]) == (400, "RequestLengthLimitClientError")
        await eventually_async(lambda: canary.aborted == (0 if buffered else 1))
    assert canary.received == []


async def test_a_compressed_multipart_body_takes_the_whole_body_path(
    canary: Canary, config_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    canary.protect(CARD)
    sent = body(part("card", CARD), part("f", b"x" * 1000, "f.txt"))
    async with proxy_stack(canary, config_dir) as stack:
        status, _answer = await post(f"{stack.url}/u", gzip.compress(sent), **{"Content-Encoding": "gzip"})
    assert status == 200
    got = gzip.decompress(canary.last.body)
    ciphertext = got.split(b'name="card"\r\n\r\n', 1)[1].split(b"\r\n", 1)[0]
    assert sdk_decrypt(ciphertext, rsa_key) == CARD


async def test_the_origin_gets_the_upload_while_the_client_is_still_sending(
    canary: Canary, config_dir: Path
) -> None:
    """If the proxy held the body, the client would wait here for bytes that never reach the origin
    (with request buffering off: on, it does hold the body, see test_proxy_isolation.py)."""
    arrived = [0]

    async def counting(request: web.Request) -> web.Response:
        async for chunk in request.content.iter_any():
            arrived[0] += len(chunk)
        return web.json_response({"size": arrived[0]})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", counting)
    head = part("card", CARD) + part("big", b"b" * 2_000_000, "b.bin")[:-2]
    canary.protect(CARD)

    async def client_body() -> AsyncIterator[bytes]:
        yield head
        # half the upload is at the origin already
        await eventually_async(lambda: arrived[0] >= 1_000_000, timeout=10)
        yield b"\r\n" + f"--{BOUNDARY}--\r\n".encode()

    streamed = Buffering(request=False)
    async with (
        serving(app) as origin_url,
        proxy_stack(canary, config_dir, origin=origin_url, buffering=streamed) as stack,
    ):
        status, answer = await post(f"{stack.url}/upload", client_body())
    assert status == 200 and answer["size"] > 2_000_000
