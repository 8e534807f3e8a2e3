"""The DynamoDB-API store: AWS DynamoDB, DynamoDB Local, ScyllaDB Alternator or dynalite.

boto3 runs in worker threads (`asyncio.to_thread`), never on the event loop. We chose boto3 over
aiobotocore because boto3 is what the rest of the project (keystore's SSM backend, moto) already uses,
its clients are thread-safe, and aiobotocore pins botocore to a narrow range that would fight boto3's.
The cost is one worker thread per call in flight; the default pool is enough for the sample origin.

Where the table is, and who we are, come the standard AWS way: AWS_ENDPOINT_URL_DYNAMODB or
AWS_ENDPOINT_URL, AWS_REGION (which wins) or AWS_DEFAULT_REGION (see awsenv), AWS_PROFILE and the shared
config files, instance roles. Throttling and transient errors are retried by botocore's "standard" retry
mode (exponential backoff with jitter; AWS_MAX_ATTEMPTS and AWS_RETRY_MODE are honoured). The schema is in
docs/storage.md.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

import awsenv

from .errors import DuplicateItem, InvalidItem, StoreError, StoreUnavailable
from .model import Submission
from .rules import check_item, check_replacement

INDEX = "by_received_at"  # GSI: partition `kind` (always KIND), sort `received_at`
KIND = "submission"
BATCH_GET_MAX = 100  # keys per BatchGetItem, DynamoDB's limit
Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DynamoSettings:
    """How to use one table. Endpoint, region and credentials are not here: they come from AWS's chain."""

    table: str
    create_table: bool = True  # create the table (and its index) when it is missing
    max_attempts: int = 5  # per call, when AWS_MAX_ATTEMPTS / the profile's max_attempts are unset
    connect_timeout: float = 2.0  # seconds
    read_timeout: float = 5.0  # seconds
    batch_rounds: int = 8  # BatchGetItem rounds while DynamoDB leaves keys unprocessed
    table_ready_timeout: float = 120.0  # seconds to wait for a new table to become ACTIVE


def encode(item: Submission) -> Item:
    """The DynamoDB item for a submission (attribute values in DynamoDB's JSON)."""
    return {
        "id": {"S": item.id},
        "kind": {"S": KIND},
        "received_at": {"S": item.received_at},
        "fields": {"M": {name: {"S": value} for name, value in item.fields.items()}},
        "encrypted_fields": {"L": [{"S": name} for name in item.encrypted_fields]},
    }


def decode(raw: Item) -> Submission:
    """A submission from its DynamoDB item; items written before `encrypted_fields` existed read as ()."""
    fields = {name: value["S"] for name, value in raw.get("fields", {}).get("M", {}).items()}
    encrypted = tuple(value["S"] for value in raw.get("encrypted_fields", {}).get("L", []))
    return Submission(
        id=raw["id"]["S"], received_at=raw["received_at"]["S"], fields=fields, encrypted_fields=encrypted
    )


def table_definition(table: str) -> dict[str, Any]:
    """The CreateTable request for a submissions table (on-demand capacity)."""
    return {
        "TableName": table,
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "received_at", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "received_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def _code(e: botocore.exceptions.ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


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
        self._lock = threading.Lock()  # guards creating the client and checking the table, once
        self._client: Any = None
        self._has_index = False

    # -- wiring (worker thread) -------------------------------------------------------------------

    def _make_client(self) -> Any:
        core = botocore.session.get_session()  # env, AWS_PROFILE, config files: AWS's own chain
        mode = core.get_config_variable("retry_mode")
        retries: dict[str, Any] = {"mode": "standard" if mode in (None, "legacy") else mode}
        if core.get_config_variable("max_attempts") is None:
            retries["total_max_attempts"] = self.settings.max_attempts
        config = botocore.config.Config(
            retries=retries,  # type: ignore[arg-type]
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            max_pool_connections=32,
        )
        try:
            session = boto3.Session(botocore_session=core, region_name=awsenv.region())  # AWS_REGION first
            return session.client("dynamodb", config=config)
        except botocore.exceptions.NoRegionError as e:
            raise StoreUnavailable(
                "no AWS region for DynamoDB: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
            ) from e
        except (botocore.exceptions.BotoCoreError, ValueError) as e:
            raise StoreUnavailable(f"cannot set up the DynamoDB client: {e}") from e

    def _ready(self) -> Any:
        """The client, once the table is known to exist (created if missing and allowed)."""
        with self._lock:
            if self._client is None:
                client = self._make_client()
                self._check_table(client)
                self._client = client
            return self._client

    def _describe(self, client: Any) -> dict[str, Any] | None:
        try:
            return client.describe_table(TableName=self.settings.table)["Table"]
        except botocore.exceptions.ClientError as e:
            if _code(e) == "ResourceNotFoundException":
                return None
            raise self._unavailable("DescribeTable", e) from e
        except botocore.exceptions.BotoCoreError as e:
            raise self._unavailable("DescribeTable", e) from e

    def _check_table(self, client: Any) -> None:
        table = self._describe(client)
        if table is None:
            if not self.settings.create_table:
                raise StoreUnavailable(
                    f"DynamoDB table {self.settings.table!r} does not exist (creating it is turned off)"
                )
            try:
                client.create_table(**table_definition(self.settings.table))
            except botocore.exceptions.ClientError as e:
                if _code(e) != "ResourceInUseException":  # someone else is creating it: wait for it
                    raise self._unavailable("CreateTable", e) from e
            except botocore.exceptions.BotoCoreError as e:
                raise self._unavailable("CreateTable", e) from e
            table = self._wait_active(client)
        keys = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        if keys != [("id", "HASH")]:
            raise StoreError(
                f"DynamoDB table {self.settings.table!r} has key {keys}; a submissions table is keyed by "
                "`id` (string) alone: see docs/storage.md"
            )
        indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        self._has_index = INDEX in indexes

    def _wait_active(self, client: Any) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.table_ready_timeout
        delay = 0.05
        while True:
            table = self._describe(client)
            statuses = [table["TableStatus"]] if table else []
            indexes = (table or {}).get("GlobalSecondaryIndexes", [])
            statuses += [i.get("IndexStatus", "ACTIVE") for i in indexes]
            if table and all(s == "ACTIVE" for s in statuses):
                return table
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"DynamoDB table {self.settings.table!r} is not ACTIVE after waiting")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _unavailable(self, operation: str, e: Exception) -> StoreUnavailable:
        if isinstance(e, botocore.exceptions.ClientError):
            message = e.response.get("Error", {}).get("Message", "")
            return StoreUnavailable(f"DynamoDB {operation} on {self.settings.table!r}: {_code(e)}: {message}")
        return StoreUnavailable(f"DynamoDB {operation} on {self.settings.table!r}: {e}")

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        client = self._ready()
        try:
            return getattr(client, operation)(TableName=self.settings.table, **request)
        except botocore.exceptions.ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                raise DuplicateItem(f"an item with this id is already in {self.settings.table!r}") from e
            if _code(e) == "ValidationException" and operation == "put_item":
                message = e.response["Error"].get("Message", "")
                raise InvalidItem(f"DynamoDB refused the item: {message}") from e
            raise self._unavailable(operation, e) from e
        except botocore.exceptions.BotoCoreError as e:
            raise self._unavailable(operation, e) from e

    async def _run(self, operation: str, **request: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._call, operation, **request)

    # -- the Store interface ------------------------------------------------------------------------

    async def put(self, item: Submission) -> None:
        check_item(item)
        try:
            # One PutItem: DynamoDB writes the whole item or nothing.
            await self._run("put_item", Item=encode(item), ConditionExpression="attribute_not_exists(id)")
        except DuplicateItem:
            # A retried PutItem whose first attempt landed (its answer was lost) finds its own item.
            if await self.get(item.id) != item:
                raise

    async def get(self, item_id: str) -> Submission | None:
        answer = await self._run("get_item", Key={"id": {"S": item_id}}, ConsistentRead=True)
        return decode(answer["Item"]) if "Item" in answer else None

    async def get_many(self, item_ids: Sequence[str]) -> dict[str, Submission]:
        unique = list(dict.fromkeys(item_ids))  # BatchGetItem refuses duplicate keys
        table = self.settings.table
        await asyncio.to_thread(self._ready)

        async def call(request: dict[str, Any]) -> dict[str, Any]:
            return await asyncio.to_thread(self._batch_get, request)

        found: dict[str, Submission] = {}
        for start in range(0, len(unique), BATCH_GET_MAX):
            keys = [{"id": {"S": i}} for i in unique[start : start + BATCH_GET_MAX]]
            request = {table: {"Keys": keys, "ConsistentRead": True}}
            for raw in await batch_get_rounds(call, request, self.settings.batch_rounds):
                item = decode(raw)
                found[item.id] = item
        return found

    def _batch_get(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._ready().batch_get_item(RequestItems=request)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            raise self._unavailable("BatchGetItem", e) from e

    async def recent(self, limit: int) -> list[Submission]:
        await asyncio.to_thread(self._ready)
        if not self._has_index:
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
            answer = await self._run("query", **request)
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
            answer = await self._run("scan", **request)
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
        request = {
            "Key": {"id": {"S": item_id}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return await asyncio.to_thread(self._update, request)

    def _update(self, request: dict[str, Any]) -> bool:
        try:
            self._ready().update_item(TableName=self.settings.table, **request)
        except botocore.exceptions.ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return False
            if _code(e) == "ValidationException":
                message = e.response["Error"].get("Message", "")
                raise InvalidItem(f"DynamoDB refused the change: {message}") from e
            raise self._unavailable("UpdateItem", e) from e
        except botocore.exceptions.BotoCoreError as e:
            raise self._unavailable("UpdateItem", e) from e
        return True

    async def delete(self, item_id: str) -> bool:
        answer = await self._run("delete_item", Key={"id": {"S": item_id}}, ReturnValues="ALL_OLD")
        return "Attributes" in answer

    async def check(self) -> None:
        await asyncio.to_thread(self._ready)  # client (region, endpoint), credentials, DescribeTable

    async def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)
