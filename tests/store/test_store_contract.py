"""One suite for every store backend: SQLite (embedded) and DynamoDB (dynalite on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import DuplicateItem, InvalidItem, Store, Submission, open_store
from store.rules import MAX_ITEM_BYTES, item_size

JANE = {"name": "Jane Doe", "email": "jane@example.org", "phone": "AYABeHd2ZXJ5IGZha2UgY2lwaGVydGV4dA=="}


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return f"dynamodb://{request.getfixturevalue('dynamodb_env')}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


def stamp(n: int) -> str:
    return f"2026-01-01T00:00:{n:02d}.000Z"


async def test_put_then_get_returns_every_field_and_the_metadata(store: Store) -> None:
    item = Submission(fields={**JANE, "note": "", "city": "Zürich ☃"}, encrypted_fields=("phone",))
    await store.put(item)
    assert await store.get(item.id) == item
    assert (await store.get(item.id)).encrypted_fields == ("phone",)  # type: ignore[union-attr]


async def test_get_of_a_missing_id_is_none(store: Store) -> None:
    assert await store.get("0" * 32) is None


async def test_a_retried_put_stores_the_item_once(store: Store) -> None:
    item = Submission(fields=JANE, encrypted_fields=("phone",))
    await store.put(item)
    await store.put(item)  # the same submission again: a retry, stored once
    assert [i.id for i in await store.recent(10)] == [item.id]


async def test_a_different_item_with_a_taken_id_is_refused_and_the_first_kept(store: Store) -> None:
    first = Submission(fields=JANE)
    await store.put(first)
    with pytest.raises(DuplicateItem):
        await store.put(Submission(id=first.id, fields={"name": "Mallory"}))
    assert await store.get(first.id) == first


async def test_get_many_finds_what_exists_across_batches(store: Store) -> None:
    items = [Submission(fields={"n": str(i)}) for i in range(130)]  # more than one BatchGetItem (100)
    await asyncio.gather(*(store.put(i) for i in items))
    wanted = [i.id for i in items] + ["f" * 32, items[0].id]  # a missing id and a repeated one
    found = await store.get_many(wanted)
    assert found == {i.id: i for i in items}
    assert await store.get_many([]) == {}


async def test_recent_is_newest_first_and_limited(store: Store) -> None:
    items = [Submission(fields={"n": str(i)}, received_at=stamp(i)) for i in range(7)]
    for item in reversed(items):
        await store.put(item)
    assert [i.fields["n"] for i in await store.recent(3)] == ["6", "5", "4"]
    assert len(await store.recent(100)) == 7


async def test_delete_removes_and_says_whether_it_was_there(store: Store) -> None:
    item = Submission(fields=JANE)
    await store.put(item)
    assert await store.delete(item.id) is True
    assert await store.get(item.id) is None
    assert await store.delete(item.id) is False
    assert await store.recent(10) == []


async def test_an_item_at_the_size_limit_is_stored_and_one_byte_more_is_refused(store: Store) -> None:
    probe = Submission(fields={"name": "", "pad": ""})
    at_limit = Submission(id=probe.id, fields={"name": "", "pad": "x" * (MAX_ITEM_BYTES - item_size(probe))})
    assert item_size(at_limit) == MAX_ITEM_BYTES
    await store.put(at_limit)
    assert await store.get(at_limit.id) == at_limit
    too_big = Submission(fields={"name": "", "pad": "x" * (MAX_ITEM_BYTES - item_size(probe) + 1)})
    with pytest.raises(InvalidItem, match="limit is 409,600 bytes"):
        await store.put(too_big)
    assert await store.get(too_big.id) is None


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (Submission(fields={"": "x"}), "field name is empty"),
        (Submission(fields={"n" * 256: "x"}), "longer than 255 bytes"),
        (Submission(fields={"a": "\ud800"}), "not valid Unicode"),
        (Submission(fields={"a": "1"}, encrypted_fields=("b",)), "does not have"),
        (Submission(id="", fields={"a": "1"}), "the id must be"),
        (Submission(id="a/b", fields={"a": "1"}), "the id must be"),
    ],
)
async def test_items_breaking_the_rules_are_refused_with_a_reason(
    store: Store, item: Submission, message: str
) -> None:
    with pytest.raises(InvalidItem, match=message):
        await store.put(item)
    assert await store.recent(10) == []


async def test_what_is_stored_survives_reopening(store_url: str) -> None:
    item = Submission(fields=JANE, encrypted_fields=("phone",))
    first = open_store(store_url)
    await first.put(item)
    await first.close()
    second = open_store(store_url)
    try:
        assert await second.get(item.id) == item
    finally:
        await second.close()


async def test_scan_pages_through_every_item_once(store: Store) -> None:
    items = [Submission(fields={"n": str(i)}) for i in range(23)]
    await asyncio.gather(*(store.put(i) for i in items))
    pages = [page async for page in store.scan(page_size=5)]
    assert all(1 <= len(page) <= 5 for page in pages)
    seen = [item for page in pages for item in page]
    assert sorted(i.id for i in seen) == sorted(i.id for i in items)
    assert {i.id: i for i in seen} == {i.id: i for i in items}


async def test_scan_of_an_empty_table_yields_nothing(store: Store) -> None:
    assert [page async for page in store.scan()] == []


async def test_replace_fields_writes_only_when_the_expected_values_are_there(store: Store) -> None:
    item = Submission(fields=JANE, encrypted_fields=("phone",))
    await store.put(item)
    new_phone = "AYABeG5ldyBjaXBoZXJ0ZXh0IGhlcmUgcGxlYXNlIQ=="
    assert await store.replace_fields(item.id, {"phone": JANE["phone"]}, {"phone": new_phone}) is True
    stored = await store.get(item.id)
    assert stored is not None
    assert stored.fields == {**JANE, "phone": new_phone}
    assert list(stored.fields) == list(JANE)  # order and other fields kept
    assert stored.encrypted_fields == ("phone",) and stored.received_at == item.received_at
    # the old value is no longer there: a second identical call (a stale or concurrent writer) fails
    assert await store.replace_fields(item.id, {"phone": JANE["phone"]}, {"phone": "other"}) is False
    assert (await store.get(item.id)).fields["phone"] == new_phone  # type: ignore[union-attr]


async def test_replace_fields_compares_every_expected_field_and_writes_all_or_nothing(store: Store) -> None:
    item = Submission(fields=JANE)
    await store.put(item)
    expected = {"phone": JANE["phone"], "email": "someone-else@example.org"}
    assert await store.replace_fields(item.id, expected, {"phone": "x", "email": "y"}) is False
    assert await store.get(item.id) == item
    both = {"phone": JANE["phone"], "email": JANE["email"]}
    assert await store.replace_fields(item.id, both, {"phone": "x", "email": "y"}) is True
    assert (await store.get(item.id)).fields == {**JANE, "phone": "x", "email": "y"}  # type: ignore[union-attr]


async def test_replace_many_applies_each_condition_on_its_own(store: Store) -> None:
    items = [Submission(fields={**JANE, "n": str(i)}) for i in range(3)]
    for item in items:
        await store.put(item)
    changes = [
        (items[0].id, {"phone": JANE["phone"]}, {"phone": "zero"}),
        (items[1].id, {"phone": "not what it holds"}, {"phone": "one"}),
        ("f" * 32, {"phone": JANE["phone"]}, {"phone": "gone"}),
        (items[2].id, {"phone": JANE["phone"], "n": "2"}, {"phone": "two", "n": "two"}),
    ]
    assert await store.replace_many(changes) == [True, False, False, True]
    assert (await store.get(items[0].id)).fields == {**JANE, "n": "0", "phone": "zero"}  # type: ignore[union-attr]
    assert await store.get(items[1].id) == items[1]
    assert (await store.get(items[2].id)).fields == {**JANE, "n": "two", "phone": "two"}  # type: ignore[union-attr]
    assert await store.replace_many([]) == []


async def test_replace_fields_of_a_missing_item_or_field_is_false(store: Store) -> None:
    assert await store.replace_fields("f" * 32, {"phone": "a"}, {"phone": "b"}) is False
    item = Submission(fields=JANE)
    await store.put(item)
    assert await store.replace_fields(item.id, {"nope": "a"}, {"nope": "b"}) is False
    assert await store.get(item.id) == item


async def test_replace_fields_refuses_fields_it_does_not_expect_and_oversized_results(store: Store) -> None:
    item = Submission(fields=JANE)
    await store.put(item)
    with pytest.raises(InvalidItem, match="does not expect"):
        await store.replace_fields(item.id, {"phone": JANE["phone"]}, {"name": "x"})
    with pytest.raises(InvalidItem, match="limit is 409,600 bytes"):
        await store.replace_fields(item.id, {"phone": JANE["phone"]}, {"phone": "x" * MAX_ITEM_BYTES})
    assert await store.get(item.id) == item


async def test_concurrent_replacements_of_one_value_let_exactly_one_win(store: Store) -> None:
    item = Submission(fields=JANE)
    await store.put(item)
    results = await asyncio.gather(
        *(store.replace_fields(item.id, {"phone": JANE["phone"]}, {"phone": f"v{n}"}) for n in range(6))
    )
    assert sorted(results) == [False] * 5 + [True]
    winner = results.index(True)
    assert (await store.get(item.id)).fields["phone"] == f"v{winner}"  # type: ignore[union-attr]
