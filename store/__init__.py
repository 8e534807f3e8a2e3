"""The table of submissions: one interface, an embedded SQLite default and a DynamoDB-compatible backend.

DynamoStore is imported on first use (as keystore backends are), so an origin on SQLite never loads boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Store
from .beacons import FIND_LIMIT, MAX_FIND_LIMIT, Found
from .dynamodb_settings import DynamoSettings
from .errors import (
    DuplicateItem,
    InvalidItem,
    ItemTooLarge,
    NoIndex,
    StoreError,
    StoreUnavailable,
    StoreUrlError,
)
from .model import Submission, new_id
from .sqlite import SqliteStore
from .url import open_store

__all__ = [
    "FIND_LIMIT",
    "MAX_FIND_LIMIT",
    "DuplicateItem",
    "DynamoSettings",
    "DynamoStore",
    "Found",
    "InvalidItem",
    "ItemTooLarge",
    "NoIndex",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreUrlError",
    "Submission",
    "new_id",
    "open_store",
]

if TYPE_CHECKING:
    from .dynamodb import DynamoStore


def __getattr__(name: str) -> Any:
    if name == "DynamoStore":
        from .dynamodb import DynamoStore

        return DynamoStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
