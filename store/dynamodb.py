"""The DynamoDB-API store: AWS DynamoDB, DynamoDB Local, ScyllaDB Alternator or dynalite.

boto3 runs in worker threads (`asyncio.to_thread`), never on the event loop. We chose boto3 over
aiobotocore because boto3 is what the rest of the project (keystore's SSM backend, moto) already uses,
its clients are thread-safe, and aiobotocore pins botocore to a narrow range that would fight boto3's.
The cost is one worker thread per call in flight; the default pool is enough for the sample origin.

This module is the items: reading and writing submissions. The client, set up the standard AWS way, and
the one mapping of AWS errors to store errors are in dynamodb_client.py; the table's definition, creating
it and checking its key schema in dynamodb_table.py. The schema is in docs/storage.md.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .base import Replacement
from .beacons import FIND_LIMIT, Found, is_sidecar
from .dynamodb_client import call
from .dynamodb_settings import DynamoSettings
from .dynamodb_table import INDEX, KIND, Table
from .errors import DuplicateItem, StoreError, StoreUnavailable
from .model import Submission
from .rules import check_item, check_lookup, check_replacement

BATCH_GET_MAX = 100  # keys per BatchGetItem, DynamoDB's limit
Item = dict[str, Any]


def encode(item: Submission) -> Item:
    """The DynamoDB item for a submission (attribute values in DynamoDB's JSON). Each beacon sidecar
    (`phone__bidx`) is in `fields` like every field, and also a top-level attribute of the same name: the
    key of the field's lookup index, which cannot be a map member."""
    return {
        "id": {"S": item.id},
        "kind": {"S": KIND},
        "received_at": {"S": item.received_at},
        "fields": {"M": {name: {"S": value} for name, value in item.fields.items()}},
        "encrypted_fields": {"L": [{"S": name} for name in item.encrypted_fields]},
        **{name: {"S": value} for name, value in item.fields.items() if is_sidecar(name)},
    }


def decode(raw: Item) -> Submission:
    """A submission from its DynamoDB item; items written before `encrypted_fields` existed read as ()."""
    fields = {name: value["S"] for name, value in raw.get("fields", {}).get("M", {}).items()}
    encrypted = tuple(value["S"] for value in raw.get("encrypted_fields", {}).get("L", []))
    return Submission(
        id=raw["id"]["S"], received_at=raw["received_at"]["S"], fields=fields, encrypted_fields=encrypted
    )


async def batch_get_rounds(
    call: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    request: dict[str, Any],
    rounds: int,
    *,
    base_delay: float = 0.05,  # seconds, doubled each round, with full jitter, capped at 2 s
) -> list[Item]:
    """Run one BatchGetItem `request` until DynamoDB has answered every key, resending UnprocessedKeys
    with backoff; StoreUnavailable if keys are still unprocessed after `rounds` rounds."""
    items: list[Item] = []
    for attempt in range(rounds):
        answer = await call(request)
        for found in answer.get("Responses", {}).values():
            items.extend(found)
        unprocessed = {t: keys for t, keys in answer.get("UnprocessedKeys", {}).items() if keys.get("Keys")}
        if not unprocessed:
            return items
        request = unprocessed
        await asyncio.sleep(random.uniform(0, min(2.0, base_delay * 2**attempt)))
    raise StoreUnavailable(f"DynamoDB left keys unprocessed after {rounds} rounds (throttled); try again")


class DynamoStore:
    """Submissions in a DynamoDB-API table; every boto3 call runs in a worker thread."""

    def __init__(self, settings: DynamoSettings) -> None:
        self.settings = settings
        self._table = Table(settings)

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        """One call on the table's client (worker thread); AWS errors mapped by store_error."""
        return call(self._table.client(), operation, self.settings.table, **request)

    async def _run(self, operation: str, **request: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._call, operation, TableName=self.settings.table, **request)

    # -- the Store interface ------------------------------------------------------------------------

    async def put(self, item: Submission) -> None:
        check_item(item)
        try:
            # One PutItem: DynamoDB writes the whole item or nothing.
            await self._run("PutItem", Item=encode(item), ConditionExpression="attribute_not_exists(id)")
        except DuplicateItem:
            # A retried PutItem whose first attempt landed (its answer was lost) finds its own item.
            if await self.get(item.id) != item:
                raise

    async def get(self, item_id: str) -> Submission | None:
        answer = await self._run("GetItem", Key={"id": {"S": item_id}}, ConsistentRead=True)
        return decode(answer["Item"]) if "Item" in answer else None

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, Submission]:
        unique = list(dict.fromkeys(item_ids))  # BatchGetItem refuses duplicate keys
        table = self.settings.table
        await asyncio.to_thread(self._table.client)

        async def call(request: dict[str, Any]) -> dict[str, Any]:
            return await asyncio.to_thread(self._call, "BatchGetItem", RequestItems=request)

        found: dict[str, Submission] = {}
        for start in range(0, len(unique), BATCH_GET_MAX):
            keys = [{"id": {"S": i}} for i in unique[start : start + BATCH_GET_MAX]]
            request = {table: {"Keys": keys, "ConsistentRead": True}}
            for raw in await batch_get_rounds(call, request, self.settings.batch_rounds):
                item = decode(raw)
                found[item.id] = item
        return found

    async def recent(self, limit: int) -> list[Submission]:
        await asyncio.to_thread(self._table.client)
        if not self._table.has_index:
            raise StoreError(
                f"DynamoDB table {self.settings.table!r} has no index {INDEX!r}, which listing recent "
                "submissions needs: see docs/storage.md"
            )
        items: list[Submission] = []
        start: dict[str, Any] | None = None
        while len(items) < limit:
            request: dict[str, Any] = {
                "IndexName": INDEX,
                "KeyConditionExpression": "#kind = :kind",
                "ExpressionAttributeNames": {"#kind": "kind"},
                "ExpressionAttributeValues": {":kind": {"S": KIND}},
                "ScanIndexForward": False,  # newest first
                "Limit": limit - len(items),
            }
            if start:
                request["ExclusiveStartKey"] = start
            answer = await self._run("Query", **request)
            items += [decode(raw) for raw in answer.get("Items", [])]
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
        return items[:limit]

    async def scan(self, page_size: int = 100) -> AsyncIterator[list[Submission]]:
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {"Limit": page_size, "ConsistentRead": True}
            if start:
                request["ExclusiveStartKey"] = start
            answer = await self._run("Scan", **request)
            items = [decode(raw) for raw in answer.get("Items", [])]
            if items:
                yield items
            start = answer.get("LastEvaluatedKey")
            if not start:
                return

    async def replace_fields(self, item_id: str, expected: Mapping[str, str], new: Mapping[str, str]) -> bool:
        check_replacement(expected, new)
        current = await self.get(item_id)
        if current is None or any(current.fields.get(k) != v for k, v in expected.items()):
            return False
        check_item(replace(current, fields={**current.fields, **new}))  # our size rules, as put applies them
        # One UpdateItem whose condition compares every expected value: DynamoDB applies it whole or not.
        names = {"#fields": "fields"}
        values: dict[str, Any] = {}
        conditions = ["attribute_exists(id)"]
        sets = []
        for n, name in enumerate(dict.fromkeys([*expected, *new])):
            names[f"#n{n}"] = name
            if name in expected:
                values[f":e{n}"] = {"S": expected[name]}
                conditions.append(f"#fields.#n{n} = :e{n}")
            if name in new:
                values[f":v{n}"] = {"S": new[name]}
                sets.append(f"#fields.#n{n} = :v{n}")
                if is_sidecar(name):  # the index key too: `fle reindex` moves the item to its new beacon
                    sets.append(f"#n{n} = :v{n}")
        request = {
            "Key": {"id": {"S": item_id}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        try:
            await self._run("UpdateItem", **request)
        except DuplicateItem:  # the condition failed: the item is gone or a value changed meanwhile
            return False
        return True

    async def replace_many(self, changes: Sequence[Replacement]) -> list[bool]:
        # one conditional UpdateItem each, concurrently (TransactWriteItems would fail all for one conflict)
        return list(await asyncio.gather(*(self.replace_fields(*change) for change in changes)))

    async def find(
        self, field: str, beacons: Sequence[str], *, limit: int = FIND_LIMIT, after: str | None = None
    ) -> Found:
        unique = check_lookup(field, beacons, limit, after)
        index = await asyncio.to_thread(self._table.lookup_index, field)
        found = await asyncio.gather(*(self._ids(index, beacon, limit + 1, after) for beacon in unique))
        ids = sorted({i for some in found for i in some})  # each ascending, at most limit + 1
        return Found(ids=ids[:limit], capped=len(ids) > limit)

    async def _ids(self, index: str, beacon: str, most: int, after: str | None) -> list[str]:
        """Up to `most` ids with `beacon` in `index`, ascending (the index's sort key), after `after`."""
        ids: list[str] = []
        start: dict[str, Any] | None = None
        condition = "#b = :b" + (" AND #id > :after" if after else "")
        values = {":b": {"S": beacon}, **({":after": {"S": after}} if after else {})}
        while len(ids) < most:
            request: dict[str, Any] = {
                "IndexName": index,
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": {"#b": index, "#id": "id"},
                "ExpressionAttributeValues": values,
                "ProjectionExpression": "#id",
                "Limit": most - len(ids),
            }
            if start:
                request["ExclusiveStartKey"] = start
            answer = await self._run("Query", **request)
            ids += [raw["id"]["S"] for raw in answer.get("Items", [])]
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
        return ids

    async def delete(self, item_id: str) -> bool:
        answer = await self._run("DeleteItem", Key={"id": {"S": item_id}}, ReturnValues="ALL_OLD")
        return "Attributes" in answer

    async def check(self) -> None:
        await asyncio.to_thread(self._table.client)  # client (region, endpoint), credentials, DescribeTable

    async def close(self) -> None:
        await asyncio.to_thread(self._table.close)
