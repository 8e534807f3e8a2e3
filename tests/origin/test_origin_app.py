"""The sample origin on a real socket: form, answer page, JSON API, store errors as HTTP answers."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy.encrypting import esdk
from origin import build_app
from origin.ciphertext import encrypted_field_names, is_message
from store import DynamoSettings, DynamoStore, SqliteStore, Store, open_store
from tests.fixtures_dynalite import Dynalite
from tests.helpers import serving


def ciphertext(key: rsa.RSAPrivateKey, plaintext: bytes) -> str:
    field_key = esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey")
    return base64.b64encode(esdk.encrypt(plaintext, field_key)).decode()


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "store.db")
    return open_store(f"dynamodb://{request.getfixturevalue('dynamodb_env')}")


@pytest.fixture
async def origin(store: Store) -> AsyncIterator[str]:
    async with serving(build_app(store)) as url:
        yield url


async def test_the_form_page_has_the_three_fields_and_a_fresh_id_each_time(origin: str) -> None:
    async with aiohttp.ClientSession() as session:
        pages = []
        for _ in range(2):
            async with session.get(origin) as response:
                assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
                pages.append(await response.text())
    for name in ("name", "email", "phone"):
        assert f'name="{name}"' in pages[0]
    ids = [re.search(r'name="submission_id" value="([0-9a-f]{32})"', page) for page in pages]
    assert ids[0] and ids[1] and ids[0].group(1) != ids[1].group(1)


async def test_submit_stores_every_field_and_marks_the_ciphertext(
    origin: str, store: Store, rsa_key: rsa.RSAPrivateKey
) -> None:
    phone = ciphertext(rsa_key, b"404-555-0150")
    form = {"name": "Jane <b>Doe</b>", "email": "jane@example.org", "phone": phone, "submission_id": "a" * 32}
    async with aiohttp.ClientSession() as session, session.post(f"{origin}/submit", data=form) as response:
        assert response.status == 200
        page = await response.text()
        assert response.headers["X-Submission-Id"] == "a" * 32
    item = await store.get("a" * 32)
    assert item is not None
    assert item.fields == {"name": "Jane <b>Doe</b>", "email": "jane@example.org", "phone": phone}
    assert item.encrypted_fields == ("phone",)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item.received_at)
    assert "Jane &lt;b&gt;Doe&lt;/b&gt;" in page and "<b>Doe" not in page
    assert f'data-field="phone">{phone}</td><td><span class="badge encrypted">ciphertext' in page
    assert '<span class="badge plain">as typed</span>' in page
    assert "1 field arrived encrypted" in page


async def test_the_same_form_posted_twice_is_stored_once(origin: str, store: Store) -> None:
    async with aiohttp.ClientSession() as session:
        first = {"name": "Jane", "phone": "1", "submission_id": "b" * 32}
        async with session.post(f"{origin}/submit", data=first) as response:
            assert response.status == 200
        again = {"name": "Jane D.", "phone": "2", "submission_id": "b" * 32}
        async with session.post(f"{origin}/submit", data=again) as response:
            assert response.status == 200
            assert "submitted before" in await response.text()
        async with session.get(f"{origin}/submissions/{'b' * 32}") as response:
            assert response.status == 200 and "Jane" in await response.text()
    assert [i.fields for i in await store.recent(10)] == [{"name": "Jane", "phone": "1"}]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "x", "submission_id": "not-an-id"}, 400, "32 lower-case hex"),
        ({"name": "x", "pad": "y" * 500_000}, 413, "limit is 409,600 bytes"),
        ("=nameless", 400, "field name is empty"),
    ],
)
async def test_submissions_the_store_cannot_take_are_refused_with_a_reason(
    origin: str, store: Store, body: object, status: int, message: str
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{origin}/submit", data=body, headers=headers) as response:
            assert response.status == status
            assert message in await response.text()
    assert await store.recent(10) == []


async def test_the_json_api_creates_reads_and_replays(origin: str, rsa_key: rsa.RSAPrivateKey) -> None:
    phone = ciphertext(rsa_key, b"404-555-0150")
    async with aiohttp.ClientSession() as session:
        body = {"name": "Jane", "phone": phone}
        async with session.post(f"{origin}/api/submissions", json=body) as response:
            assert response.status == 201
            created = await response.json()
            assert response.headers["Location"] == f"/api/submissions/{created['id']}"
        assert created["fields"] == body and created["encrypted_fields"] == ["phone"]
        async with session.get(f"{origin}/api/submissions/{created['id']}") as response:
            assert response.status == 200
            assert await response.json() == created
        key = {"Idempotency-Key": "c" * 32}
        async with session.post(f"{origin}/api/submissions", json=body, headers=key) as response:
            assert response.status == 201 and (await response.json())["id"] == "c" * 32
        async with session.post(f"{origin}/api/submissions", json={"name": "again"}, headers=key) as response:
            assert response.status == 200
            assert (await response.json())["fields"] == body
        async with session.get(f"{origin}/api/submissions/{'d' * 32}") as response:
            assert response.status == 404
            assert await response.json() == {"error": "no submission with this id"}


@pytest.mark.parametrize(
    ("data", "headers", "status", "message"),
    [
        (b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        (b"{nope", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"[1]", {"Content-Type": "application/json"}, 400, "JSON object"),
        (b'{"age": 7}', {"Content-Type": "application/json"}, 400, "['age']"),
        (b'{"a": "1"}', {"Content-Type": "application/json", "Idempotency-Key": "x"}, 400, "hex"),
    ],
)
async def test_the_json_api_explains_bad_requests(
    origin: str, data: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{origin}/api/submissions", data=data, headers=headers) as response:
            assert response.status == status
            assert message in (await response.json())["error"]


async def test_a_store_that_is_down_gives_503_and_nothing_half_written(
    own_dynalite: Dynalite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    store = DynamoStore(DynamoSettings(table="fle-origin-down", connect_timeout=1, read_timeout=2))
    async with serving(build_app(store)) as origin:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{origin}/api/submissions", json={"name": "first"}) as response:
                assert response.status == 201
            own_dynalite.stop()
            form = {"name": "Jane", "phone": "1", "submission_id": "e" * 32}
            async with session.post(f"{origin}/submit", data=form) as response:
                assert response.status == 503 and response.headers["Retry-After"] == "5"
                assert "could not be stored" in await response.text()
            async with session.post(f"{origin}/api/submissions", json={"name": "Jane"}) as response:
                assert response.status == 503
                assert await response.json() == {"error": "the submission could not be stored; try again"}
            async with session.get(f"{origin}/api/submissions/{'e' * 32}") as response:
                assert response.status == 503
            own_dynalite.start()
            async with session.get(f"{origin}/api/submissions/{'e' * 32}") as response:
                assert response.status == 404
    check = DynamoStore(DynamoSettings(table="fle-origin-down"))
    assert [i.fields for i in await check.recent(10)] == [{"name": "first"}]
    await check.close()


def test_ciphertext_is_recognised_by_shape(rsa_key: rsa.RSAPrivateKey) -> None:
    real = ciphertext(rsa_key, b"404-555-0150")
    assert is_message(real)
    assert not is_message("404-555-0150")
    assert not is_message(real[:-1])  # not base64 any more
    assert not is_message(base64.b64encode(b"\x00" * 60).decode())
    assert is_message(base64.b64encode(b"\x02\x04\x78" + b"\x00" * 60).decode())
    assert not is_message(base64.b64encode(b"\x02" + b"\x00" * 60).decode())  # suite 0x0000: no ESDK suite
    assert encrypted_field_names({"a": real, "b": "x", "c": real}) == ("a", "c")
