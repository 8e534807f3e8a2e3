"""The whole path on real sockets: form -> proxy -> origin -> SQLite -> handler -> plaintext."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from decryptor import handler
from edge_proxy import ProxySettings, build_app
from origin import build_app as build_origin
from profiles import load_config_dir
from store import SqliteStore
from tests.helpers import make_config_dir, serving, write_file_keystore


@dataclass
class Stack:
    proxy: str
    origin: str
    store_path: Path


@pytest.fixture
async def stack(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config()
    store_path = tmp_path / "store.db"
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    monkeypatch.setenv("FLE_KEYSTORE", str(write_file_keystore(tmp_path / "ks", rsa_key, "pw")))
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{store_path}")
    handler.reset_cache()
    async with serving(build_origin(SqliteStore(store_path))) as origin_url:
        proxy = build_app(ProxySettings(origin=URL(origin_url), config=config))
        async with serving(proxy, auto_decompress=False) as proxy_url:
            yield Stack(proxy_url, origin_url, store_path)


async def test_form_post_is_stored_as_ciphertext_and_decrypts(stack: Stack) -> None:
    form = {"name": "Jane Doe", "email": "jane@example.org", "phone": "404-555-0150"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{stack.proxy}/submit", data=form) as response:
            assert response.status == 200
            page = await response.text()
            item_id = response.headers["X-Submission-Id"]
    assert "404-555-0150" not in page
    stored = (await SqliteStore(stack.store_path).get(item_id)).fields  # type: ignore[union-attr]
    assert stored["name"] == "Jane Doe" and stored["email"] == "jane@example.org"
    assert stored["phone"].startswith("AYABe")
    assert base64.b64decode(stored["phone"], validate=True)
    assert "404-555-0150" not in stack.store_path.read_bytes().decode("latin-1")
    result = await asyncio.to_thread(handler.lambda_handler, {"ids": [item_id]}, None)
    assert result["items"][0]["fields"] == form


async def test_other_requests_pass_through_unchanged(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.proxy}/") as response:
            assert response.status == 200
            assert "<form" in await response.text()
        async with session.get(f"{stack.proxy}/nothing-here?x=1") as response:
            assert response.status == 404


async def test_unknown_content_type_is_refused_not_forwarded(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{stack.proxy}/submit", json={"phone": "404-555-0150"}) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "RejectedByContentTypeClientError"
    assert await SqliteStore(stack.store_path).recent(10) == []


async def test_body_over_limit_is_refused(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        body = "phone=1&pad=" + "x" * (1024 * 1024)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with session.post(f"{stack.proxy}/submit", data=body, headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "RequestLengthLimitClientError"


async def test_compressed_body_is_encrypted_or_refused(stack: Stack) -> None:
    import gzip

    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
        async with session.post(
            f"{stack.proxy}/submit", data=gzip.compress(b"phone=404-555-0150"), headers=headers
        ) as r:
            assert r.status == 200  # decoded, encrypted, re-encoded (edge_proxy/test_proxy_body.py has more)
        headers["Content-Encoding"] = "br"
        async with session.post(f"{stack.proxy}/submit", data=b"phone=1", headers=headers) as r:
            assert r.status == 415
    assert "404-555-0150" not in stack.store_path.read_bytes().decode("latin-1")


async def test_origin_down_gives_502(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config()
    # a port that was free a moment ago: nothing listens on it
    async with serving(web.Application()) as dead_url:
        pass
    async with serving(build_app(ProxySettings(origin=URL(dead_url), config=config))) as proxy_url:
        async with aiohttp.ClientSession() as session, session.get(f"{proxy_url}/") as response:
            assert response.status == 502


async def test_origin_sees_forwarding_headers_and_chunked_bodies(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    seen: dict[str, object] = {}

    async def echo(request: web.Request) -> web.Response:
        seen["headers"] = dict(request.headers)
        seen["body"] = await request.read()
        return web.Response(text="ok", headers={"X-Origin": "yes"})

    origin = web.Application()
    origin.router.add_route("*", "/{tail:.*}", echo)
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"name=a&pho"
        yield b"ne=404-555-0150"

    async with serving(origin) as origin_url:
        async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            async with aiohttp.ClientSession() as session:
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Connection": "keep-alive, X-Drop",
                    "X-Drop": "1",
                }
                async with session.put(f"{proxy_url}/x", data=chunks(), headers=headers) as response:
                    assert response.status == 200 and response.headers["X-Origin"] == "yes"
    body = seen["body"]
    assert isinstance(body, bytes) and body.startswith(b"name=a&phone=AYABe") and b"404-555-0150" not in body
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["X-Forwarded-For"] == "127.0.0.1" and headers["X-Forwarded-Proto"] == "http"
    assert "X-Drop" not in headers
