"""Open a store from its URL: `sqlite:///PATH` (embedded default) or `dynamodb://TABLE`.

SQLite paths follow SQLAlchemy's rule: after `sqlite://` comes an empty host and a slash, then the path, so
`sqlite:///data/store.db` is `data/store.db` relative to the current directory and
`sqlite:////var/lib/fle/store.db` (four slashes) is the absolute `/var/lib/fle/store.db`.

`dynamodb://TABLE?create=false` uses an existing table and never creates one (for accounts whose role may
not call CreateTable). Endpoint, region and credentials are never in the URL: they come the standard AWS
way (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .base import Store
from .beacons import index_name
from .dynamodb_settings import DynamoSettings
from .errors import StoreUrlError
from .sqlite import SqliteStore

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")  # DynamoDB's rule for table names


def _sqlite_path(url: str, netloc: str, path: str) -> str:
    if netloc:  # sqlite://store.db: no empty host, the whole rest is a relative path
        return f"{netloc}{path}"
    relative = path[1:]  # the slash that ends the empty host is not part of the path
    if not relative or relative == "/":
        raise StoreUrlError(
            f"{url!r}: a SQLite store needs a path, e.g. sqlite:///data/store.db (relative) or "
            "sqlite:////var/lib/fle/store.db (absolute)"
        )
    if not relative.startswith("/") and not Path(relative).exists() and Path("/", relative).exists():
        # three slashes used to mean an absolute path here: refuse rather than start an empty store
        raise StoreUrlError(
            f"{url!r} is the relative path {relative!r} (not there), but /{relative} exists: "
            f"for that absolute path write sqlite:////{relative} (four slashes)"
        )
    return relative


def _dynamodb(url: str, netloc: str, path: str, query: str, create: bool, indexed: tuple[str, ...]) -> Store:
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
    options_create = options.get("create", ["true"])[-1].lower()
    if options_create not in ("true", "false"):
        raise StoreUrlError(f"{url!r}: create must be true or false")
    from .dynamodb import DynamoStore  # boto3 is imported only by a store that uses it

    for field in indexed:
        try:
            index_name(field)
        except ValueError as e:
            raise StoreUrlError(str(e)) from e
    settings = DynamoSettings(
        table=table, create_table=create and options_create == "true", indexed_fields=indexed
    )
    return DynamoStore(settings)


def open_store(url: str, *, create: bool = True, indexed_fields: Sequence[str] = ()) -> Store:
    """The store `url` names; StoreUrlError says which forms are accepted.

    `create=False` is for users that only read what others wrote (`fle decrypt`, `fle rewrap`, the
    decryptor's handler): a missing SQLite file is refused (StoreUnavailable) instead of being created with
    its directories, and a missing DynamoDB table is reported instead of created.

    `indexed_fields` are the fields looked up by beacon (`Store.find`): a new DynamoDB table is created with
    a `<field>__bidx` index for each, and an existing table without one is refused at its first call
    (NoIndex, saying how to add it). SQLite's lookup table serves every field and needs no list.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return SqliteStore(_sqlite_path(url, parts.netloc, parts.path), create=create)
    if parts.scheme == "dynamodb":
        return _dynamodb(url, parts.netloc, parts.path, parts.query, create, tuple(indexed_fields))
    raise StoreUrlError(f"{url!r}: unknown store; use sqlite:///PATH or dynamodb://TABLE")
