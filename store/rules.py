"""The rules every item must keep, in every backend: DynamoDB's limits, so an application that works on
the embedded SQLite store also works on DynamoDB.

DynamoDB counts an item's size as the UTF-8 length of every attribute name plus every value; a map costs
3 bytes plus 1 byte per element on top of its names and values, a list the same per element. The limit is
400 KB (409,600 bytes) per item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .beacons import MAX_BEACONS, MAX_FIND_LIMIT, SUFFIX, check_beacon, check_sidecar, is_sidecar
from .errors import InvalidItem, ItemTooLarge
from .model import Submission

MAX_ITEM_BYTES = 400 * 1024
MAX_FIELD_NAME_BYTES = 255  # ours: form field names are short; DynamoDB allows up to 64 KB
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

# Attribute names the DynamoDB backend writes besides `fields` (see store/dynamodb.py).
_TOP_LEVEL = ("id", "kind", "received_at", "fields", "encrypted_fields")


def _utf8(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as e:  # lone surrogates cannot be stored by either backend
        raise InvalidItem(f"{what} is not valid Unicode text") from e


def item_size(item: Submission) -> int:
    """The item's size as DynamoDB counts it (bytes), including our own attributes."""
    size = sum(len(name) for name in _TOP_LEVEL)
    size += _utf8(item.id, "the id") + len("submission") + len(item.received_at)
    size += 3 + len(item.fields)
    for name, value in item.fields.items():
        size += _utf8(name, "a field name") + _utf8(value, f"field {name!r}")
    size += 3 + len(item.encrypted_fields)
    size += sum(_utf8(name, "a field name") for name in item.encrypted_fields)
    # each beacon sidecar is also a top-level attribute of the same name (a DynamoDB index's key)
    for name, value in item.fields.items():
        if is_sidecar(name):
            size += _utf8(name, "a field name") + _utf8(value, f"field {name!r}")
    return size


def check_item(item: Submission) -> None:
    """InvalidItem, saying what to change, when `item` breaks a rule; the message never holds a value."""
    if not ID_PATTERN.fullmatch(item.id):
        raise InvalidItem("the id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    for name, value in item.fields.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidItem("field names and values must be text")
        if not name:
            raise InvalidItem("a field name is empty; every field needs a name")
        if _utf8(name, "a field name") > MAX_FIELD_NAME_BYTES:
            raise InvalidItem(f"a field name is longer than {MAX_FIELD_NAME_BYTES} bytes")
        if is_sidecar(name):
            check_sidecar(name, value)
    unknown = set(item.encrypted_fields) - set(item.fields)
    if unknown:
        raise InvalidItem(f"encrypted_fields names fields the item does not have: {sorted(unknown)}")
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLarge(
            f"the submission is {size:,} bytes as stored; the limit is {MAX_ITEM_BYTES:,} bytes (400 KB)"
        )


def check_replacement(expected: Mapping[str, str], new: Mapping[str, str]) -> None:
    """InvalidItem unless `new` only names fields in `expected`, all text (see Store.replace_fields)."""
    if not new:
        raise InvalidItem("replace_fields needs at least one field to set")
    unknown = set(new) - set(expected)
    if unknown:
        raise InvalidItem(f"replace_fields sets fields it does not expect: {sorted(unknown)}")
    for values in (expected, new):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            raise InvalidItem("field names and values must be text")


def check_lookup(field: str, beacons: Sequence[str], limit: int, after: str | None = None) -> list[str]:
    """The distinct beacons of a lookup (Store.find), in order; ValueError (TypeError for a bare string)
    saying what is wrong with the field name, the beacons, the limit or `after`."""
    if isinstance(beacons, str):
        raise TypeError("beacons is a sequence of beacons, e.g. ['3fa1'], not one string")
    if not isinstance(field, str) or not field or is_sidecar(field):
        raise ValueError(f"a lookup names the indexed field itself (e.g. 'phone'), not its {SUFFIX} sidecar")
    unique = list(dict.fromkeys(check_beacon(b) for b in beacons))
    if not 1 <= len(unique) <= MAX_BEACONS:
        raise ValueError(f"a lookup takes 1 to {MAX_BEACONS} beacons (one per index key in use)")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FIND_LIMIT:
        raise ValueError(f"the limit is 1 to {MAX_FIND_LIMIT} ids per lookup")
    if after is not None and not (isinstance(after, str) and ID_PATTERN.fullmatch(after)):
        raise ValueError("after is an id: 1-128 characters of A-Z a-z 0-9 _ . : -")
    return unique
