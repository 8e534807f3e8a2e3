"""Store errors.

StoreError
├── StoreUrlError       the store URL cannot be understood
├── DuplicateItem       an item with this id is already stored
├── InvalidItem         the item breaks the table's rules (size, names, id)
│   └── ItemTooLarge    the item is over DynamoDB's 400 KB
├── NoIndex             a lookup on a field the table has no index for
└── StoreUnavailable    the backing table cannot be reached or refused the operation
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of the store's errors."""


class StoreUrlError(StoreError, ValueError):
    """The store URL cannot be understood."""


class DuplicateItem(StoreError):
    """An item with this id is already stored."""


class StoreUnavailable(StoreError):
    """The backing table cannot be reached or refused the operation."""


class InvalidItem(StoreError, ValueError):
    """The item breaks the table's rules (size, field names, id); the message says which, never a value."""


class ItemTooLarge(InvalidItem):
    """The item is larger than DynamoDB's 400 KB item limit."""


class NoIndex(StoreError):
    """The table has no index for lookups on this field (DynamoDB: no `<field>__bidx` global secondary
    index, or one not ACTIVE yet); the message says how to add it."""
