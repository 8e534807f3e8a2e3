"""What only the DynamoDB backend has: the table it creates, AWS configuration, a server that goes away,
UnprocessedKeys, and an event loop that keeps running while boto3 waits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from store import (
    DynamoSettings,
    DynamoStore,
    StoreError,
    StoreUnavailable,
    StoreUrlError,
    Submission,
    open_store,
)
from store.dynamodb import batch_get_rounds
from store.dynamodb_table import INDEX, table_definition
from tests.fixtures_dynalite import Dynalite


def client() -> Any:
    return boto3.client("dynamodb")  # the environment the fixtures set: dynalite, dummy credentials


async def test_the_table_is_created_with_the_documented_schema(dynamodb_env: str) -> None:
    store = open_store(f"dynamodb://{dynamodb_env}")
    await store.put(Submission(fields={"phone": "AYAB..."}))
    await store.close()
    table = client().describe_table(TableName=dynamodb_env)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == INDEX
    assert index["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "received_at", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


async def test_items_are_plain_dynamodb_attributes(dynamodb_env: str) -> None:
    item = Submission(fields={"name": "Jane", "phone": "AYAB..."}, encrypted_fields=("phone",))
    store = open_store(f"dynamodb://{dynamodb_env}")
    await store.put(item)
    await store.close()
    raw = client().get_item(TableName=dynamodb_env, Key={"id": {"S": item.id}})["Item"]
    assert raw == {
        "id": {"S": item.id},
        "kind": {"S": "submission"},
        "received_at": {"S": item.received_at},
        "fields": {"M": {"name": {"S": "Jane"}, "phone": {"S": "AYAB..."}}},
        "encrypted_fields": {"L": [{"S": "phone"}]},
    }


async def test_create_false_refuses_a_missing_table(dynamodb_env: str) -> None:
    store = open_store(f"dynamodb://{dynamodb_env}?create=false")
    with pytest.raises(StoreUnavailable, match="does not exist"):
        await store.get("x" * 32)
    await store.close()


async def test_a_table_with_another_key_is_refused_clearly(dynamodb_env: str) -> None:
    client().create_table(
        TableName=dynamodb_env,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = open_store(f"dynamodb://{dynamodb_env}")
    with pytest.raises(StoreError, match="keyed by `id`"):
        await store.get("x" * 32)
    await store.close()


async def test_a_table_without_the_index_stores_but_cannot_list_recent(dynamodb_env: str) -> None:
    definition = table_definition(dynamodb_env)
    del definition["GlobalSecondaryIndexes"]
    definition["AttributeDefinitions"] = definition["AttributeDefinitions"][:1]
    client().create_table(**definition)
    store = open_store(f"dynamodb://{dynamodb_env}")
    item = Submission(fields={"a": "1"})
    await store.put(item)
    assert await store.get(item.id) == item
    with pytest.raises(StoreError, match=f"no index '{INDEX}'"):
        await store.recent(5)
    await store.close()


async def test_the_generic_aws_endpoint_variable_works_too(
    dynamodb_env: str, dynalite_server: Dynalite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    monkeypatch.setenv("AWS_ENDPOINT_URL", dynalite_server.endpoint)
    store = open_store(f"dynamodb://{dynamodb_env}")
    item = Submission(fields={"a": "1"})
    await store.put(item)
    assert await store.get(item.id) == item
    await store.close()


async def test_no_region_is_a_clear_error(dynamodb_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    store = open_store(f"dynamodb://{dynamodb_env}")
    with pytest.raises(StoreUnavailable, match="AWS_REGION"):
        await store.get("x" * 32)
    await store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("dynamodb://ab", "3-255 characters"),
        ("dynamodb://bad*name", "3-255 characters"),
        ("dynamodb://table?create=maybe", "create must be true or false"),
        ("dynamodb://table?region=eu-west-1", "unknown option"),
    ],
)
def test_bad_dynamodb_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(StoreUrlError, match=message):
        open_store(url)


async def test_a_stopped_server_is_unavailable_writes_nothing_and_recovers(
    own_dynalite: Dynalite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    store = DynamoStore(DynamoSettings(table="fle-down", connect_timeout=1, read_timeout=2))
    kept = Submission(fields={"a": "kept"})
    await store.put(kept)
    own_dynalite.stop()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    lost = Submission(fields={"a": "lost"})
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.put(lost)
    elapsed = time.monotonic() - started
    ticking.cancel()
    assert ticks >= int(elapsed / 0.01 / 10)  # the loop kept running while boto3 retried in a thread
    with pytest.raises(StoreUnavailable):
        await store.get(kept.id)

    own_dynalite.start()  # same port, same LevelDB directory
    assert await store.get(kept.id) == kept
    assert await store.get(lost.id) is None
    assert [i.id for i in await store.recent(10)] == [kept.id]
    await store.close()


async def test_a_put_retried_while_the_server_comes_back_lands_once(own_dynalite: Dynalite) -> None:
    store = DynamoStore(DynamoSettings(table="fle-back", max_attempts=10, connect_timeout=1))
    await store.get("x" * 32)  # the table exists before the server goes away
    own_dynalite.stop()
    item = Submission(fields={"a": "1"})
    putting = asyncio.create_task(store.put(item))
    await asyncio.sleep(0.3)  # a pause, not a wait for a condition: the put must still be retrying after it
    assert not putting.done()  # botocore is backing off and retrying
    await asyncio.to_thread(own_dynalite.start)
    await asyncio.wait_for(putting, timeout=60)
    assert await store.get(item.id) == item
    await store.close()


async def test_unprocessed_keys_are_resent_until_answered() -> None:
    # DynamoDB returns UnprocessedKeys under load; dynalite never does, so the loop is driven directly.
    answers = [
        {"Responses": {"t": [{"n": 1}]}, "UnprocessedKeys": {"t": {"Keys": [{"id": "2"}, {"id": "3"}]}}},
        {"Responses": {"t": []}, "UnprocessedKeys": {"t": {"Keys": [{"id": "3"}]}}},
        {"Responses": {"t": [{"n": 2}, {"n": 3}]}, "UnprocessedKeys": {}},
    ]
    sent: list[dict[str, Any]] = []

    async def call(request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        return answers[len(sent) - 1]

    items = await batch_get_rounds(call, {"t": {"Keys": [{"id": "1"}, {"id": "2"}, {"id": "3"}]}}, 5)
    assert items == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [r["t"]["Keys"] for r in sent[1:]] == [[{"id": "2"}, {"id": "3"}], [{"id": "3"}]]


async def test_keys_left_unprocessed_too_long_are_unavailable() -> None:
    async def call(request: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": {}, "UnprocessedKeys": request}

    with pytest.raises(StoreUnavailable, match="unprocessed after 3 rounds"):
        await batch_get_rounds(call, {"t": {"Keys": [{"id": "1"}]}}, 3, base_delay=0.001)


def test_table_definition_matches_the_docs() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "storage.md").read_text()
    assert INDEX in doc and "PAY_PER_REQUEST" in doc
