"""The submissions table in DynamoDB: its definition, creating it when missing, checking its key schema.

The first call that needs the table makes the client and checks the table, once (`Table.client`); a
server calls `check()` at start-up so that a missing region, missing credentials or a table of the wrong
shape stop it before it listens. The schema is in docs/storage.md.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .dynamodb_client import AwsError, error_code, make_client, store_error
from .dynamodb_settings import DynamoSettings
from .errors import StoreError, StoreUnavailable

INDEX = "by_received_at"  # GSI: partition `kind` (always KIND), sort `received_at`
KIND = "submission"


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


class Table:
    """One submissions table: the client to it, made and checked on first use; thread-safe, blocking."""

    def __init__(self, settings: DynamoSettings) -> None:
        self.settings = settings
        self.name = settings.table
        self._lock = threading.Lock()  # guards creating the client and checking the table, once
        self._client: Any = None
        self.has_index = False  # whether the table has INDEX, which listing recent items needs

    def client(self) -> Any:
        """The client, once the table is known to exist (created if missing and allowed)."""
        with self._lock:
            if self._client is None:
                client = make_client(self.settings)
                self._check(client)
                self._client = client
            return self._client

    def _describe(self, client: Any) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = client.describe_table(TableName=self.name)["Table"]
            return table
        except AwsError as e:
            if error_code(e) == "ResourceNotFoundException":
                return None
            raise store_error("DescribeTable", self.name, e) from e

    def _check(self, client: Any) -> None:
        table = self._describe(client)
        if table is None:
            if not self.settings.create_table:
                raise StoreUnavailable(
                    f"DynamoDB table {self.name!r} does not exist (creating it is turned off)"
                )
            try:
                client.create_table(**table_definition(self.name))
            except AwsError as e:
                if error_code(e) != "ResourceInUseException":  # someone else is creating it: wait for it
                    raise store_error("CreateTable", self.name, e) from e
            table = self._wait_active(client)
        keys = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        if keys != [("id", "HASH")]:
            raise StoreError(
                f"DynamoDB table {self.name!r} has key {keys}; a submissions table is keyed by "
                "`id` (string) alone: see docs/storage.md"
            )
        indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        self.has_index = INDEX in indexes

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
                raise StoreUnavailable(f"DynamoDB table {self.name!r} is not ACTIVE after waiting")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def close(self) -> None:
        """Close the client (the next call makes and checks a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
