"""The origin's find page on a real socket, over both stores. The edge is not in front of it here: bodies
are built as the edge writes them (the term's field replaced by real ESDK ciphertext, its `<field>__bidx`
beacon added beside it); the beacons are chosen by hand, the store only compares them."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from origin import build_app
from store import FIND_LIMIT, SqliteStore, Store, Submission, open_store
from tests.helpers import serving
from tests.origin.test_origin_app import ciphertext

JSON = {"Accept": "application/json"}


@pytest.fixture(params=["sqlite", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "store.db")
    return open_store(f"dynamodb://{request.getfixturevalue('dynamodb_env')}", indexed_fields=("phone",))


@pytest.fixture
async def origin(store: Store) -> AsyncIterator[str]:
    async with serving(build_app(store)) as url:
        yield url


@pytest.fixture(scope="module")
def terms(rsa_key: rsa.RSAPrivateKey) -> dict[str, str]:
    return {name: ciphertext(rsa_key, name.encode()) for name in ("jane", "john", "term")}


async def signed_up(origin: str, session: aiohttp.ClientSession, phone: str, beacon: str) -> str:
    """Submit the sign-up form as the edge forwards it; the stored item's id."""
    form = {"name": "Jane", "phone": phone, "phone__bidx": beacon}
    async with session.post(f"{origin}/submit", data=form) as response:
        assert response.status == 200, await response.text()
        return response.headers["X-Submission-Id"]


async def test_the_form_asks_for_the_field_searched_by(origin: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{origin}/find") as response:
            assert response.status == 200 and response.content_type == "text/html"
            page = await response.text()
            assert 'action="/find"' in page and 'name="phone"' in page and "Phone number" in page
        async with session.get(f"{origin}/find", params={"field": "email"}) as response:
            assert 'name="email"' in await response.text()
        for bad in ("a b", "phone__bidx", "x" * 65):
            async with session.get(f"{origin}/find", params={"field": bad}) as response:
                assert response.status == 400


async def test_a_search_finds_the_items_with_the_terms_beacon(origin: str, terms: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        jane = await signed_up(origin, session, terms["jane"], "3fa1")
        john = await signed_up(origin, session, terms["john"], "3fa1")  # another value, the same beacon
        await signed_up(origin, session, terms["john"], "77")
        search = {"phone": terms["term"], "phone__bidx": "3fa1"}
        async with session.post(f"{origin}/find", data=search, headers=JSON) as response:
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
            answer = await response.json()
        assert answer == {"ids": sorted([jane, john]), "field": "phone", "term": terms["term"]}
        async with session.post(f"{origin}/find", data=search) as response:
            assert response.status == 200 and response.content_type == "text/html"
            page = await response.text()
        links = re.findall(r'<a href="/submissions/([0-9a-f]{32})">', page)
        assert links == sorted([jane, john]) and "2 candidates" in page
        assert terms["term"] not in page and "3fa1" not in page  # the page shows neither term nor beacon
        async with session.get(f"{origin}/submissions/{links[0]}") as response:
            assert response.status == 200
        search["phone__bidx"] = "ffff"
        async with session.post(f"{origin}/find", data=search) as response:
            assert "No submission has this beacon" in await response.text()


async def test_a_json_or_multipart_search_works_as_a_form_does(origin: str, terms: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        jane = await signed_up(origin, session, terms["jane"], "0c")
        body = {"phone": terms["term"], "phone__bidx": "0c"}
        async with session.post(f"{origin}/find", json=body, headers=JSON) as response:
            assert (await response.json())["ids"] == [jane]
        multipart = aiohttp.FormData(body)
        multipart.add_field("unused", b"x", filename="x.bin")  # forces multipart/form-data
        async with session.post(f"{origin}/find", data=multipart, headers=JSON) as response:
            assert (await response.json())["ids"] == [jane]


async def test_during_a_rotation_both_beacons_are_looked_up(origin: str, terms: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        old = await signed_up(origin, session, terms["jane"], "a1")
        new = await signed_up(origin, session, terms["jane"], "5e0")
        await signed_up(origin, session, terms["john"], "b2")
        form = [("phone", terms["term"]), ("phone__bidx", "a1"), ("phone__bidx", "5e0")]
        async with session.post(f"{origin}/find", data=form, headers=JSON) as response:
            assert (await response.json())["ids"] == sorted([old, new])
        body = {"phone": terms["term"], "phone__bidx": ["a1", "5e0"]}
        async with session.post(f"{origin}/find", json=body, headers=JSON) as response:
            assert (await response.json())["ids"] == sorted([old, new])


async def test_a_search_with_more_candidates_than_the_limit_says_so_and_pages(
    origin: str, store: Store, terms: dict[str, str]
) -> None:
    items = [Submission(fields={"phone": terms["jane"], "phone__bidx": "a1"}) for _ in range(FIND_LIMIT + 3)]
    await asyncio.gather(*(store.put(item) for item in items))
    search = {"phone": terms["term"], "phone__bidx": "a1"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{origin}/find", data=search, headers=JSON) as response:
            first = await response.json()
        assert first["capped"] is True and first["ids"] == sorted(i.id for i in items)[:FIND_LIMIT]
        after = first["ids"][-1]
        async with session.post(
            f"{origin}/find", params={"after": after}, data=search, headers=JSON
        ) as response:
            rest = await response.json()
        assert "capped" not in rest and rest["ids"] == sorted(i.id for i in items)[FIND_LIMIT:]
        async with session.post(f"{origin}/find", data=search) as response:
            page = await response.text()
        assert f"More than {FIND_LIMIT} candidates" in page and page.count("<li>") == FIND_LIMIT


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"phone": "AYAB"}, "no __bidx beacon came with the search (fields ['phone'])"),
        ({"phone": "AYAB", "phone__bidx": "3FA1"}, "phone__bidx must be 1-16 lowercase hex digits"),
        ({"phone": "AYAB", "phone__bidx": "not hex"}, "phone__bidx must be 1-16 lowercase hex digits"),
        ({"phone": "AYAB", "phone__bidx": "0" * 17}, "phone__bidx must be 1-16 lowercase hex digits"),
        ({"phone__bidx": "3fa1"}, "needs one value for 'phone'"),
        ({"phone": "A", "phone__bidx": "1", "email": "B", "email__bidx": "2"}, "one field at a time"),
    ],
)
async def test_a_search_that_cannot_be_run_is_refused_with_why(
    origin: str, body: dict[str, str], message: str
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{origin}/find", data=body, headers=JSON) as response:
            assert response.status == 400
            assert message in (await response.json())["error"]
        async with session.post(f"{origin}/find", data=body) as response:
            assert response.status == 400 and response.content_type == "text/plain"
            assert message in await response.text()


async def test_a_search_in_another_format_is_refused(origin: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{origin}/find", data=b"phone=x", headers=JSON) as response:
            assert response.status == 400  # application/octet-stream
            assert "application/x-www-form-urlencoded" in (await response.json())["error"]
        search = {"phone": "AYAB", "phone__bidx": "a1"}
        async with session.post(
            f"{origin}/find", params={"after": "a/b"}, data=search, headers=JSON
        ) as response:
            assert response.status == 400 and "after is an id" in (await response.json())["error"]
        headers = {**JSON, "Content-Type": "application/json"}
        for body in (b"{nope", b"[1]"):
            async with session.post(f"{origin}/find", data=body, headers=headers) as response:
                assert response.status == 400


async def test_a_field_without_a_dynamodb_index_is_refused_and_logged_without_values(
    dynamodb_env: str, terms: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(f"dynamodb://{dynamodb_env}", indexed_fields=("phone",))
    async with serving(build_app(store)) as origin, aiohttp.ClientSession() as session:
        body = {"email": terms["term"], "email__bidx": "c0ffee"}
        with caplog.at_level(logging.WARNING, logger="origin"):
            async with session.post(f"{origin}/find", data=body, headers=JSON) as response:
                assert response.status == 400
                error = (await response.json())["error"]
    assert "lookups on this field are not set up" in error and "email__bidx" in error
    logged = json.dumps([r.getMessage() for r in caplog.records])
    assert "email__bidx" in logged and "c0ffee" not in logged and terms["term"] not in logged
