"""The blind indexes of a CloudFront config directory ("Fle:Indexes"), by the name a stored item gives the
field: what `match` normalizes with and what `fle reindex` rewrites.

The origin stores a submission's fields flat, by name: a form or multipart field under its own name, a
top-level JSON member under its key. So an index on `phone` or on the JSON pointer `/phone` is stored as
`phone` (beacon `phone__bidx`); an index on a deeper pointer (`/contact/phone`) has no stored field of its
own and is left out here (`unstored` lists it, so a caller can say so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blindindex import Normalizer, get_normalizer
from profiles import SIDECAR_SUFFIX, BlindIndex, ConfigError, load_config_dir, parse_pointer_pattern

from .errors import DecryptorConfigError


def stored_name(index: BlindIndex) -> str | None:
    """The name a stored item gives the indexed field; None for a JSON pointer deeper than one member."""
    if not index.field.startswith("/"):
        return index.field
    segments = parse_pointer_pattern(index.field).segments
    return segments[0] if len(segments) == 1 and segments[0] is not None else None


def _same(index: BlindIndex) -> tuple[object, ...]:
    """What must agree when two profiles index one stored field (`phone` in forms, `/phone` in JSON)."""
    return (index.name, index.key, index.bits, index.normalize, index.previous_key)


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """One index as the store sees it: the stored field's name, its beacon's name, and the index."""

    field: str
    index: BlindIndex

    @property
    def sidecar(self) -> str:
        return self.field + SIDECAR_SUFFIX

    @property
    def normalizer(self) -> Normalizer:
        return get_normalizer(self.index.normalize)


@dataclass(frozen=True, slots=True)
class ConfigIndexes:
    """Every index of a config directory's profiles, by stored field name."""

    by_field: dict[str, StoredIndex]
    unstored: tuple[str, ...]  # index fields no stored item holds flat (deeper JSON pointers)

    @classmethod
    def load(cls, directory: str | Path) -> ConfigIndexes:
        """The indexes of the config in `directory`; DecryptorConfigError when it does not load, or when
        two profiles index the same stored field differently (a lookup could not know which applies)."""
        try:
            configs = load_config_dir(directory)
        except ConfigError as e:
            raise DecryptorConfigError(f"config {str(directory)!r}: {e}") from e
        by_field: dict[str, StoredIndex] = {}
        unstored: list[str] = []
        for profile in configs.profiles.values():
            for index in profile.indexes:
                name = stored_name(index)
                if name is None:
                    unstored.append(index.field)
                    continue
                known = by_field.get(name)
                if known is not None and _same(known.index) != _same(index):
                    raise DecryptorConfigError(
                        f"config {str(directory)!r}: field {name!r} is indexed differently by two profiles "
                        f"({known.index.name}, {known.index.normalize}, key {known.index.key} and "
                        f"{index.name}, {index.normalize}, key {index.key}); one stored field needs one index"
                    )
                by_field[name] = StoredIndex(name, index)
        return cls(by_field, tuple(unstored))
