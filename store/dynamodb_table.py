"""The submissions table in DynamoDB: its definition, creating it when missing, checking its key schema.

The first call that needs the table makes the client and checks the table, once (`Table.client`); a
server calls `check()` at start-up so that a missing region, missing credentials or a table of the wrong
shape stop it before it listens. The schema is in docs/storage.md.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from .beacons import index_name
from .dynamodb_client import AwsError, error_code, make_client, store_error
from .dynamodb_settings import DynamoSettings
from .errors import NoIndex, StoreError, StoreUnavailable

INDEX = "by_received_at"  # GSI: partition `kind` (always KIND), sort `received_at`
KIND = "submission"


def beacon_index(field: str) -> dict[str, Any]:
    """The global secondary index for lookups on `field`: partition key the top-level copy of its sidecar
    `<field>__bidx`, sort key `id` (ids come back in order), named after the sidecar, keys only (sparse:
    items without the sidecar are not in it)."""
    name = index_name(field)
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": name, "KeyType": "HASH"},
            {"AttributeName": "id", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


def add_index_command(table: str, field: str) -> str:
    """The AWS CLI command that adds the lookup index for `field` to an existing table."""
    index = beacon_index(field)
    update = json.dumps([{"Create": index}], separators=(",", ":"))
    return (
        f"aws dynamodb update-table --table-name {table} --attribute-definitions "
        f"AttributeName={index['IndexName']},AttributeType=S AttributeName=id,AttributeType=S "
        f"--global-secondary-index-updates '{update}'"
    )


def table_definition(table: str, indexed_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The CreateTable request for a submissions table (on-demand capacity), with a lookup index for each
    of `indexed_fields` (ValueError for a field DynamoDB cannot name an index after)."""
    lookups = [beacon_index(field) for field in dict.fromkeys(indexed_fields)]
    return {
        "TableName": table,
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "received_at", "AttributeType": "S"},
            *({"AttributeName": index["IndexName"], "AttributeType": "S"} for index in lookups),
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
            },
            *lookups,
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
        self.indexes: dict[str, str] = {}  # global secondary index name -> its IndexStatus

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
                client.create_table(**table_definition(self.name, self.settings.indexed_fields))
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
        self._note_indexes(table)
        missing = [f for f in self.settings.indexed_fields if index_name(f) not in self.indexes]
        if missing:
            raise NoIndex(
                f"DynamoDB table {self.name!r} has no lookup index for {missing}; add each with "
                f"{add_index_command(self.name, missing[0])} (see docs/storage.md)"
            )

    def _note_indexes(self, table: dict[str, Any]) -> None:
        self.indexes = {
            i["IndexName"]: i.get("IndexStatus", "ACTIVE") for i in table.get("GlobalSecondaryIndexes", [])
        }
        self.has_index = INDEX in self.indexes

    def lookup_index(self, field: str) -> str:
        """The ACTIVE index for lookups on `field` (the table described again when it was not known at the
        first call: an index added since); NoIndex, saying how to add it, when there is none."""
        try:
            name = index_name(field)
        except ValueError as e:
            raise NoIndex(str(e)) from e
        client = self.client()
        if self.indexes.get(name) != "ACTIVE":
            table = self._describe(client)
            if table is not None:
                with self._lock:
                    self._note_indexes(table)
        status = self.indexes.get(name)
        if status is None:
            raise NoIndex(
                f"DynamoDB table {self.name!r} has no index {name!r} for lookups on field {field!r}: create "
                f"tables with fle origin --indexed-field {field}, or add it with "
                f"{add_index_command(self.name, field)} (see docs/storage.md)"
            )
        if status != "ACTIVE":
            raise NoIndex(f"DynamoDB index {name!r} of table {self.name!r} is {status}, not ACTIVE yet")
        return name

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
