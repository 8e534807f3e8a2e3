"""Open a store from its URL: `sqlite:///PATH` (embedded default) or `dynamodb://TABLE`.

`dynamodb://TABLE?create=false` uses an existing table and never creates one (for accounts whose role may
not call CreateTable). Endpoint, region and credentials are never in the URL: they come the standard AWS
way (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, ...).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from .base import Store
from .dynamodb import DynamoSettings, DynamoStore
from .errors import StoreUrlError
from .sqlite import SqliteStore

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")  # DynamoDB's rule for table names


def _dynamodb(url: str, netloc: str, path: str, query: str) -> DynamoStore:
    table = netloc + path.rstrip("/")
    if not _TABLE_NAME.fullmatch(table):
        raise StoreUrlError(
            f"{url!r}: a DynamoDB table name is 3-255 characters of A-Z a-z 0-9 _ . -, "
            "e.g. dynamodb://fle-submissions"
        )
    options = parse_qs(query, keep_blank_values=True)
    unknown = set(options) - {"create"}
    if unknown:
        raise StoreUrlError(f"{url!r}: unknown option(s) {sorted(unknown)}; only create=true|false")
    create = options.get("create", ["true"])[-1].lower()
    if create not in ("true", "false"):
        raise StoreUrlError(f"{url!r}: create must be true or false")
    return DynamoStore(DynamoSettings(table=table, create_table=create == "true"))


def open_store(url: str) -> Store:
    """The store `url` names; StoreUrlError says which forms are accepted."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path if not parts.netloc else f"{parts.netloc}{parts.path}"
        if not path or path == "/":
            raise StoreUrlError(f"{url!r}: a SQLite store needs a path, e.g. sqlite:///var/lib/fle/store.db")
        return SqliteStore(path)
    if parts.scheme == "dynamodb":
        return _dynamodb(url, parts.netloc, parts.path, parts.query)
    raise StoreUrlError(f"{url!r}: unknown store; use sqlite:///PATH or dynamodb://TABLE")
