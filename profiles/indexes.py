"""`"Fle:Indexes"` in a FieldLevelEncryptionProfileConfig: which protected fields get a blind index.

    "Fle:Indexes": [{"Field": "phone", "Name": "phone", "Key": "pii-2026", "Bits": 16, "Normalize": "digits"}]

`Field` is one of the profile's own field patterns, exactly as written (a form/multipart field name or a
JSON pointer) and without a `*`: the edge writes the beacon beside the field as `<Field>__bidx`, and a
lookup must know that name. `Name` is the index's name (the beacon's HKDF info, as the DB-ESDK beacon
name), unique in the profile; `Key` names an `[[index_key]]` of the index-keys file; `Bits` is 1 to 63;
`Normalize` is a blindindex normalizer (`name` or `name/version`), stored as its canonical id.

Pure: the normalizer names come from blindindex.normalizers (stdlib only), never from key code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from blindindex.normalizers import get_normalizer
from fields.json_pointer import JsonPointerPattern, parse_pointer_pattern
from fields.patterns import FieldPattern

from .json_node import Node

INDEXES_KEY = "Fle:Indexes"
SIDECAR_SUFFIX = "__bidx"  # `<field>__bidx`: the beacon's sibling field / member
INDEX_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_KEY_NAME_LENGTH = 128
_FIELDS = {"Field", "Name", "Key", "Bits", "Normalize"}


@dataclass(frozen=True, slots=True)
class BlindIndex:
    """One index: the beacon of `field`'s normalized value, under index key `key`, `bits` long."""

    field: str  # the profile pattern as written: a field name or a JSON pointer
    name: str  # the index name: HKDF info "AWS_DBE_SCAN_BEACON" + name
    key: str  # an [[index_key]] name of the index-keys file
    bits: int  # 1 to 63
    normalize: str  # a normalizer's canonical id, e.g. "digits/1"

    @property
    def sidecar(self) -> str:
        """Where the beacon goes: `<field>__bidx` (for a pointer, its last member with the suffix)."""
        return self.field + SIDECAR_SUFFIX


Pattern = FieldPattern | JsonPointerPattern


def _selects(pattern: Pattern, sidecar: str) -> bool:
    """True when `pattern` would protect the sidecar itself (or a value it sits in)."""
    if isinstance(pattern, FieldPattern):
        return pattern.matches(sidecar)
    path = tuple(s for s in parse_pointer_pattern(sidecar).segments if s is not None)
    return any(pattern.matches(path[:n]) for n in range(1, len(path) + 1))


def _field(node: Node, patterns: list[Pattern]) -> str:
    text = node.str()
    pattern = next((p for p in patterns if p.text == text), None)
    if pattern is None:
        written = ", ".join(repr(p.text) for p in patterns)
        raise node.error(f"Field {text!r} is not one of this profile's field patterns ({written})")
    if (isinstance(pattern, FieldPattern) and pattern.wildcard) or (
        isinstance(pattern, JsonPointerPattern) and None in pattern.segments
    ):
        raise node.error(
            f"Field {text!r} has a '*': an index needs one field with a known name, "
            f"since its beacon goes to <field>{SIDECAR_SUFFIX}"
        )
    if isinstance(pattern, JsonPointerPattern):
        last = pattern.segments[-1] if pattern.segments else ""
        if not last or last.isdigit():
            raise node.error(
                f"Field {text!r} must end in an object member's name (not an array element or the root): "
                f"its beacon is the sibling member {last}{SIDECAR_SUFFIX}"
            )
    return text


def _bits(node: Node) -> int:
    value = node.value
    if not isinstance(value, int) or isinstance(value, bool):
        raise node.error(f"Bits must be an integer from 1 to 63, not {value!r}")
    if not 1 <= value <= 63:
        raise node.error(f"Bits must be 1 to 63, not {value} (fle index plan --distinct X suggests a length)")
    return value


def parse_indexes(node: Node | None, patterns: list[Pattern]) -> tuple[BlindIndex, ...]:
    """The profile's indexes; ConfigError (file and JSON path) for anything wrong."""
    if node is None:
        return ()
    if not isinstance(node.value, list):
        raise node.error(f"{INDEXES_KEY} must be a JSON array of index objects")
    indexes: list[BlindIndex] = []
    for position, value in enumerate(node.value):
        item = Node(value, node.file, f"{node.path}[{position}]")
        unknown = set(item.obj()) - _FIELDS
        if unknown:
            raise item.error(
                f"unknown key(s) {', '.join(sorted(unknown))}; an index has {', '.join(sorted(_FIELDS))}"
            )
        field = _field(item.get("Field"), patterns)
        name_node = item.get("Name")
        name = name_node.str()
        if not INDEX_NAME_RE.fullmatch(name):
            raise name_node.error(
                f"Name {name!r}: letters, digits, '.', '_', '-', at most 64, starting with a letter or digit"
            )
        normalize_node = item.get("Normalize")
        try:
            normalize = get_normalizer(normalize_node.str()).id
        except ValueError as e:
            raise normalize_node.error(str(e)) from None
        index = BlindIndex(
            field=field,
            name=name,
            key=item.get("Key").str(max_length=MAX_KEY_NAME_LENGTH),
            bits=_bits(item.get("Bits")),
            normalize=normalize,
        )
        for other in indexes:
            if other.name == index.name:
                raise name_node.error(f"index Name {name!r} is used twice in this profile")
            if other.field == index.field:
                raise item.get("Field").error(
                    f"Field {field!r} has an index already: one beacon per field ({field}{SIDECAR_SUFFIX})"
                )
        for pattern in patterns:
            if _selects(pattern, index.sidecar):
                raise item.get("Field").error(
                    f"the beacon's name {index.sidecar!r} is selected by pattern {pattern.text!r}: "
                    "the beacon would be encrypted (rename the field or the pattern)"
                )
        indexes.append(index)
    return tuple(indexes)
