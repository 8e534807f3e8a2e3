"""Open a store from its URL: `sqlite:///PATH` (embedded default) or `dynamodb://TABLE`."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import Store
from .errors import StoreUrlError
from .sqlite import SqliteStore


def open_store(url: str) -> Store:
    """The store `url` names; StoreUrlError says which forms are accepted."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path if not parts.netloc else f"{parts.netloc}{parts.path}"
        if not path or path == "/":
            raise StoreUrlError(f"{url!r}: a SQLite store needs a path, e.g. sqlite:///var/lib/fle/store.db")
        return SqliteStore(path)
    if parts.scheme == "dynamodb":
        raise StoreUrlError(
            f"{url!r}: the DynamoDB backend is not built yet (see issue 5); use sqlite:///PATH"
        )
    raise StoreUrlError(f"{url!r}: unknown store; use sqlite:///PATH or dynamodb://TABLE")
