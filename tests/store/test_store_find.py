"""Lookups by beacon (`Store.find`) on both backends: SQLite's beacons table and DynamoDB's (dynalite's)
`<field>__bidx` global secondary indexes. Items are built as the edge writes them: the protected field's
ciphertext and its `<field>__bidx` sidecar, stored as received."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest

from store import MAX_FIND_LIMIT, InvalidItem, NoIndex, Store, Submission, open_store
from store.rules import item_size
from store.sqlite import find_sql

INDEXED = ("phone", "email")


def ciphertext(n: int) -> str:
    """A ciphertext-looking value (standard base64 starting with an ESDK v1 header's bytes)."""
    return base64.b64encode(b"\x01\x80\x00\x78" + n.to_bytes(8, "big") * 4).decode()


def edge_item(n: int, phone_beacon: str | None, email_beacon: str | None = None) -> Submission:
    fields = {"name": f"customer {n}", "phone": ciphertext(n)}
    if phone_beacon is not None:
        fields["phone__bidx"] = phone_beacon
    if email_beacon is not None:
        fields["email"], fields["email__bidx"] = ciphertext(n + 1), email_beacon
    return Submission(id=f"item-{n:05d}", fields=fields)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return f"dynamodb://{request.getfixturevalue('dynamodb_env')}"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url, indexed_fields=INDEXED)
    try:
        yield opened
    finally:
        await opened.close()


async def test_find_returns_exactly_the_items_with_the_beacon(store: Store) -> None:
    items = [
        edge_item(0, "3fa1", "00"),
        edge_item(1, "3fa1"),
        edge_item(2, "3fa2", "3fa1"),
        edge_item(3, None),
    ]
    await asyncio.gather(*(store.put(item) for item in items))
    found = await store.find("phone", ["3fa1"])
    assert found.ids == ["item-00000", "item-00001"] and found.capped is False
    assert (await store.find("phone", ["3fa2"])).ids == ["item-00002"]
    assert (await store.find("email", ["3fa1"])).ids == ["item-00002"]  # the beacon of another field
    assert (await store.find("phone", ["ffff"])).ids == []
    assert (await store.get("item-00000")) == items[0]  # the sidecar is stored as received, like every field


async def test_a_lookup_with_the_old_and_the_new_beacon_finds_the_union(store: Store) -> None:
    # during an index-key rotation some items carry the old key's beacon, others the new key's
    beacons = ["a1", "7c0", "a1", "b2"]
    await asyncio.gather(*(store.put(edge_item(n, beacon)) for n, beacon in enumerate(beacons)))
    found = await store.find("phone", ["7c0", "a1", "a1"])
    assert found.ids == ["item-00000", "item-00001", "item-00002"] and not found.capped


async def test_replacing_a_sidecar_moves_the_item_to_its_new_beacon(store: Store) -> None:
    item = edge_item(7, "a1")
    await store.put(item)
    moved = await store.replace_fields(item.id, {"phone__bidx": "a1"}, {"phone__bidx": "7c0"})
    assert moved is True
    assert (await store.find("phone", ["a1"])).ids == []
    assert (await store.find("phone", ["7c0"])).ids == [item.id]
    # a change whose condition fails moves nothing
    assert await store.replace_fields(item.id, {"phone__bidx": "a1"}, {"phone__bidx": "ee"}) is False
    assert (await store.find("phone", ["ee"])).ids == []
    # replace_many (fle reindex's chunks) too
    assert await store.replace_many([(item.id, {"phone__bidx": "7c0"}, {"phone__bidx": "ee"})]) == [True]
    assert (await store.find("phone", ["7c0", "ee"])).ids == [item.id]
    assert (await store.find("phone", ["ee"])).ids == [item.id]


async def test_a_deleted_item_is_not_found(store: Store) -> None:
    await store.put(edge_item(1, "a1"))
    await store.put(edge_item(2, "a1"))
    assert await store.delete("item-00001") is True
    assert (await store.find("phone", ["a1"])).ids == ["item-00002"]


async def test_a_lookup_is_capped_at_its_limit_and_pages_on_after_the_last_id(store: Store) -> None:
    await asyncio.gather(*(store.put(edge_item(n, "a1" if n % 2 else "b2")) for n in range(14)))
    first = await store.find("phone", ["a1"], limit=3)
    assert first.ids == ["item-00001", "item-00003", "item-00005"] and first.capped is True
    second = await store.find("phone", ["a1"], limit=3, after=first.ids[-1])
    assert second.ids == ["item-00007", "item-00009", "item-00011"] and second.capped is True
    last = await store.find("phone", ["a1"], limit=3, after=second.ids[-1])
    assert last.ids == ["item-00013"] and last.capped is False
    exact = await store.find("phone", ["a1", "b2"], limit=14)
    assert exact.ids == [f"item-{n:05d}" for n in range(14)] and exact.capped is False
    union = await store.find("phone", ["a1", "b2"], limit=5, after="item-00004")
    assert union.ids == [f"item-{n:05d}" for n in range(5, 10)] and union.capped is True


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone__bidx": "3FA1"}, "1-16 lowercase hex"),
        ({"phone__bidx": "3fa1 "}, "1-16 lowercase hex"),
        ({"phone__bidx": ""}, "1-16 lowercase hex"),
        ({"phone__bidx": "0" * 17}, "1-16 lowercase hex"),
        ({"phone__bidx": "0x3f"}, "1-16 lowercase hex"),
        ({"__bidx": "3fa1"}, "names no field"),
    ],
)
async def test_a_sidecar_that_is_not_a_beacon_is_refused_without_its_value(
    store: Store, fields: dict[str, str], message: str
) -> None:
    item = Submission(fields={"phone": ciphertext(1), **fields})
    with pytest.raises(InvalidItem, match=message) as refused:
        await store.put(item)
    assert all(value not in str(refused.value) for value in fields.values() if value)
    assert await store.get(item.id) is None


async def test_a_replacement_that_is_not_a_beacon_is_refused(store: Store) -> None:
    await store.put(edge_item(1, "a1"))
    with pytest.raises(InvalidItem, match="lowercase hex"):
        await store.replace_fields("item-00001", {"phone__bidx": "a1"}, {"phone__bidx": "zz"})
    assert (await store.find("phone", ["a1"])).ids == ["item-00001"]


@pytest.mark.parametrize(
    ("field", "beacons", "limit", "error"),
    [
        ("phone", ["3FA1"], 10, "lowercase hex"),
        ("phone", [], 10, "1 to 8 beacons"),
        ("phone", [f"{n:x}" for n in range(9)], 10, "1 to 8 beacons"),
        ("phone__bidx", ["a1"], 10, "not its __bidx sidecar"),
        ("", ["a1"], 10, "names the indexed field"),
        ("phone", ["a1"], 0, f"1 to {MAX_FIND_LIMIT}"),
        ("phone", ["a1"], MAX_FIND_LIMIT + 1, f"1 to {MAX_FIND_LIMIT}"),
    ],
)
async def test_a_bad_lookup_is_refused_with_what_to_change(
    store: Store, field: str, beacons: list[str], limit: int, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        await store.find(field, beacons, limit=limit)


async def test_after_must_be_an_id(store: Store) -> None:
    for after in ("", "a/b", "x" * 129):
        with pytest.raises(ValueError, match="after is an id"):
            await store.find("phone", ["a1"], after=after)


async def test_a_bare_string_is_not_taken_for_a_list_of_beacons(store: Store) -> None:
    with pytest.raises(TypeError, match="not one string"):
        await store.find("phone", "3fa1")


def test_the_sidecar_counts_twice_in_the_item_size() -> None:
    plain = Submission(id="x", received_at="t", fields={"phone": "c"})
    indexed = Submission(id="x", received_at="t", fields={"phone": "c", "phone__bidx": "3fa1"})
    assert item_size(indexed) - item_size(plain) == 1 + 2 * (len("phone__bidx") + len("3fa1"))


# -- SQLite: the beacons table ----------------------------------------------------------------------


OLD_SCHEMA = """
CREATE TABLE submissions (id TEXT PRIMARY KEY, received_at TEXT NOT NULL, fields TEXT NOT NULL,
                          encrypted_fields TEXT NOT NULL DEFAULT '[]');
CREATE INDEX submissions_received_at ON submissions (received_at);
"""


async def test_a_store_file_from_before_lookups_gets_its_beacons_table_filled(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    rows = [
        ("a", {"phone": "c1", "phone__bidx": "a1"}),
        ("b", {"phone": "c2", "phone__bidx": "a1", "email": "c3", "email__bidx": "b2"}),
        ("c", {"phone": "c4"}),
        ("d", {"phone": "c5", "phone__bidx": "NOT-HEX"}),  # stored before the rules: left out of lookups
    ]
    db.executemany(
        "INSERT INTO submissions (id, received_at, fields) VALUES (?, '2026-01-01T00:00:00.000Z', ?)",
        [(item_id, json.dumps(fields)) for item_id, fields in rows],
    )
    db.commit()
    db.close()
    store = open_store(f"sqlite:///{path}", create=False)  # a reader too brings the file up to date
    try:
        assert (await store.find("phone", ["a1"])).ids == ["a", "b"]
        assert (await store.find("email", ["b2"])).ids == ["b"]
        assert (await store.get("d")) is not None  # the item itself is untouched
        await store.put(edge_item(9, "a1"))
        assert (await store.find("phone", ["a1"])).ids == ["a", "b", "item-00009"]
    finally:
        await store.close()
    again = open_store(f"sqlite:///{path}")  # opening again neither fails nor fills twice
    try:
        assert (await again.find("phone", ["a1"])).ids == ["a", "b", "item-00009"]
    finally:
        await again.close()


async def test_ten_thousand_items_are_looked_up_through_the_index(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    store = open_store(f"sqlite:///{path}")
    try:
        # 16-bit beacons, as a profile with "Bits": 16 writes them; n's beacon is n mod 4096 (so 2 or 3 each)
        items = [edge_item(n, f"{n % 4096:04x}", f"{n % 7:x}") for n in range(10_000)]
        for n in range(0, len(items), 500):
            await asyncio.gather(*(store.put(item) for item in items[n : n + 500]))
        for beacon in (0, 1, 4095, 1234):
            expected = [item.id for n, item in enumerate(items) if n % 4096 == beacon]
            assert (await store.find("phone", [f"{beacon:04x}"])).ids == expected
        both = await store.find("phone", ["0001", "0002"])
        assert both.ids == sorted(i.id for n, i in enumerate(items) if n % 4096 in (1, 2))
    finally:
        await store.close()
    db = sqlite3.connect(path)
    for beacons in (1, 2):
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {find_sql(beacons)}", ["phone", *["0001"] * beacons, "", 101]
            )
        )
        search = "SEARCH beacons USING COVERING INDEX beacons_lookup (field=? AND beacon=? AND item_id>?)"
        assert search in plan
        assert "SCAN" not in plan
    db.close()


# -- DynamoDB: the global secondary indexes ---------------------------------------------------------


async def test_the_table_gets_a_keys_only_index_per_indexed_field(dynamodb_env: str) -> None:
    store = open_store(f"dynamodb://{dynamodb_env}", indexed_fields=INDEXED)
    try:
        await store.put(edge_item(1, "a1", "b2"))
        client = boto3.client("dynamodb")
        table = client.describe_table(TableName=dynamodb_env)["Table"]
        indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
        assert set(indexes) == {"by_received_at", "phone__bidx", "email__bidx"}
        assert indexes["phone__bidx"]["KeySchema"] == [
            {"AttributeName": "phone__bidx", "KeyType": "HASH"},
            {"AttributeName": "id", "KeyType": "RANGE"},
        ]
        assert indexes["phone__bidx"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        raw = client.get_item(TableName=dynamodb_env, Key={"id": {"S": "item-00001"}})["Item"]
        assert raw["phone__bidx"] == {"S": "a1"} and raw["fields"]["M"]["phone__bidx"] == {"S": "a1"}
        answer = client.query(
            TableName=dynamodb_env,
            IndexName="phone__bidx",
            KeyConditionExpression="#b = :b",
            ExpressionAttributeNames={"#b": "phone__bidx"},
            ExpressionAttributeValues={":b": {"S": "a1"}},
        )
        assert [i["id"]["S"] for i in answer["Items"]] == ["item-00001"] and answer["ScannedCount"] == 1
    finally:
        await store.close()


async def test_a_lookup_on_a_field_without_an_index_says_how_to_add_one(dynamodb_env: str) -> None:
    store = open_store(f"dynamodb://{dynamodb_env}", indexed_fields=("phone",))
    try:
        await store.put(edge_item(1, "a1", "b2"))
        with pytest.raises(NoIndex, match="no index 'email__bidx' for lookups on field 'email'") as e:
            await store.find("email", ["b2"])
        assert "--indexed-field email" in str(e.value) and "aws dynamodb update-table" in str(e.value)
        with pytest.raises(NoIndex, match="cannot have a DynamoDB index"):
            await store.find("customer[phone]", ["b2"])
    finally:
        await store.close()
    # a store told to index a field its existing table has no index for refuses to start
    more = open_store(f"dynamodb://{dynamodb_env}", indexed_fields=("phone", "email"))
    try:
        with pytest.raises(NoIndex, match=r"no lookup index for \['email'\]"):
            await more.check()
    finally:
        await more.close()


async def test_a_lookup_pages_through_a_beacon_with_many_items(dynamodb_env: str) -> None:
    store = open_store(f"dynamodb://{dynamodb_env}", indexed_fields=("phone",))
    try:
        items = [edge_item(n, "a1" if n % 3 else "b2") for n in range(150)]
        for n in range(0, len(items), 50):
            await asyncio.gather(*(store.put(item) for item in items[n : n + 50]))
        expected = [item.id for n, item in enumerate(items) if n % 3]
        found = await store.find("phone", ["a1"], limit=MAX_FIND_LIMIT)
        assert found.ids == expected and not found.capped
        ids, after = [], None
        while True:
            page = await store.find("phone", ["a1"], limit=40, after=after)
            ids += page.ids
            if not page.capped:
                break
            after = page.ids[-1]
        assert ids == expected
    finally:
        await store.close()
