"""Blind-index sidecars as the store sees them: the naming convention, the rules, what a lookup answers.

The edge writes, beside each protected field that has an index, a sibling field `<field>__bidx` holding the
field's beacon: lowercase hex of 1 to 16 characters (a truncated HMAC of the normalized plaintext, 1 to 63
bits). The origin stores it like every other field; the store also keeps it where a lookup can use an
index (SQLite: the `beacons` side table; DynamoDB: a top-level attribute of the same name, the key of a
global secondary index of the same name). Nothing here knows a key or a plaintext: only names and hex.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidItem

SUFFIX = "__bidx"
# while an index key rotates, the edge also writes the beacon under the old key here; a search looks both up,
# a stored one is kept as an ordinary field (fle reindex moves `__bidx` itself to the new key)
PREVIOUS_SUFFIX = "__bidx_prev"
BEACON = re.compile(r"[0-9a-f]{1,16}")  # ceil(bits / 4) lowercase hex digits, bits 1..63
# A DynamoDB index name is 3-255 of these; the index is named after the sidecar, `<field>__bidx`.
INDEXABLE = re.compile(r"[A-Za-z0-9_.-]{1,249}")

FIND_LIMIT = 100  # ids per lookup unless the caller asks for another number
MAX_FIND_LIMIT = 1000  # the most ids one lookup returns; `Found.capped` says when more matched
MAX_BEACONS = 8  # beacons per lookup: one per index key in use (two during a rotation)


@dataclass(frozen=True, slots=True)
class Found:
    """What a lookup found: item ids in ascending order; `capped` when more items matched than the limit
    (ask again with `after=ids[-1]` for the next ones)."""

    ids: list[str]
    capped: bool = False


def sidecar_name(field: str) -> str:
    """The name of `field`'s beacon sidecar: `phone` -> `phone__bidx`."""
    return field + SUFFIX


def is_sidecar(name: str) -> bool:
    return name.endswith(SUFFIX)


def sidecars(fields: Mapping[str, str]) -> dict[str, str]:
    """The beacons among `fields`, by the field they index: {"phone__bidx": "3fa1"} -> {"phone": "3fa1"}."""
    return {name[: -len(SUFFIX)]: value for name, value in fields.items() if name.endswith(SUFFIX)}


def check_sidecar(name: str, value: str) -> None:
    """InvalidItem when a `__bidx` field cannot be a beacon sidecar; the message never holds the value."""
    if name == SUFFIX:
        raise InvalidItem(f"field {SUFFIX!r} names no field: a beacon sidecar is <field name>{SUFFIX}")
    if not isinstance(value, str) or not BEACON.fullmatch(value):
        raise InvalidItem(f"field {name!r} is a beacon sidecar: its value must be 1-16 lowercase hex digits")


def check_beacon(value: object) -> str:
    """`value` if it is a beacon (1-16 lowercase hex digits); ValueError otherwise, without the value."""
    if not isinstance(value, str) or not BEACON.fullmatch(value):
        raise ValueError("a beacon is 1-16 lowercase hex digits")
    return value


def index_name(field: str) -> str:
    """The DynamoDB index (and top-level attribute) for lookups on `field`: its sidecar's name. ValueError
    when DynamoDB cannot name an index after it (only A-Z a-z 0-9 _ . - are allowed in index names)."""
    if not INDEXABLE.fullmatch(field):
        raise ValueError(
            f"field {field!r} cannot have a DynamoDB index: index names allow only A-Z a-z 0-9 _ . - "
            f"(at most {255 - len(SUFFIX)} characters before {SUFFIX})"
        )
    return sidecar_name(field)
