"""The table of submissions: one interface, an embedded SQLite default and a DynamoDB-compatible backend."""

from .base import Store
from .dynamodb import DynamoSettings, DynamoStore
from .errors import DuplicateItem, InvalidItem, ItemTooLarge, StoreError, StoreUnavailable, StoreUrlError
from .model import Submission, new_id
from .sqlite import SqliteStore
from .url import open_store

__all__ = [
    "DuplicateItem",
    "DynamoSettings",
    "DynamoStore",
    "InvalidItem",
    "ItemTooLarge",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreUrlError",
    "Submission",
    "new_id",
    "open_store",
]
