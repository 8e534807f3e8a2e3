"""The readings of one field name: every (family, case-folded path) an origin parser could store it at.

The generic readings (`names_generic.py`) of the name, each read by every family (`names_families.py`), and
each key of a family's path read as applications' accessors read keys (`json_keys.py`). A name that a family
reads in a way not modelled, or with a JavaScript prototype key, is refused. `names.py` matches the
readings against a selection's patterns; docs there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from .errors import Reason, RequestRefused
from .json_keys import has_structure, reads_prototype
from .json_keys import readings as key_readings
from .names_families import ANY, FAMILIES, WINDOW, Path, Unreadable, qs_key
from .names_generic import variants as _variants
from .patterns import MAX_PATTERN_LENGTH

LIMIT = MAX_PATTERN_LENGTH // 2 + 2  # a pattern has at most this many keys; longer prefixes decide nothing
CACHED_NAME_LENGTH = 128  # the readings of names up to this long are remembered (bounded memory)
_STRUCTURE = re.compile(r"[\[\]. \x00]")  # a character some family reads as structure (with a `!`/`_` lead)

Reading = tuple[int, Path]  # (family index, case-folded path)
T = TypeVar("T")
FAMILY_READERS = tuple(FAMILIES.values())


_SIMPLE = re.compile(r"[a-z0-9-][a-z0-9_-]*(?:\[[a-z0-9_-]+\])*(?:\[\])?")  # delimited groups: linear


def read_simple(name: str, limit: int) -> list[tuple[int, Path]] | None:
    """Every family's path for a plain bracketed name (`user[phone][0]`, `tags[]`), or None for any other.

    A form may hold thousands of such names, so they skip the eight readers: for this shape the families
    differ only in which keys are array slots (tests/security/test_name_readings.py checks it against the
    readers).
    """
    if len(name) > WINDOW or "[" not in name or not _SIMPLE.fullmatch(name):
        return None
    first = name.index("[")
    keys = name[first + 1 : -1].split("][")
    base = name[:first]
    exact = (base, *(ANY if key == "" else key for key in keys))
    qs = (base, *(qs_key(key) for key in keys))
    sliced = (base, *(ANY if key == "" or key.isdigit() else key for key in keys))
    whole = (name,)
    paths = {
        "qs_extended": qs,
        "qs_flat": whole,
        "php": exact,
        "rack2": exact,
        "rack3": exact,
        "multer": sliced,
        "spring": (base, *keys),
        "flat": whole,
    }
    return [(index, paths[family][:limit]) for index, family in enumerate(FAMILIES)]


def _folded_variants(name: str) -> tuple[str, ...]:
    """The generic readings of `name`, case-folded: what the family readers are given."""
    return tuple({variant.casefold() for variant in _variants(name)})


def _family_readings(variants: tuple[str, ...]) -> frozenset[Reading]:
    out: set[Reading] = set()
    for folded in variants:
        if folded and _STRUCTURE.search(folded) is None and not folded.startswith(("!", "_")):
            out.update(_plain(folded))  # every family keeps such a name whole
            continue
        simple = read_simple(folded, LIMIT)
        if simple is not None:
            out.update(simple)
            continue
        for index, reader in enumerate(FAMILY_READERS):
            for path in reader(folded, LIMIT):
                if path:
                    out.add((index, path))
                    out.update((index, keys) for keys in _keys_read(path))
    return frozenset(out)


_MAX_KEY_READINGS = 64  # paths one family path may read as through its keys; a name with more is refused


def _keys_read(path: Path) -> list[Path]:
    """The path as an application reads its keys with accessors (json_keys.py): a key `card.number` or
    `[[phone][` that multer or qs stored whole is read by lodash `_.get`/`_.set`, Laravel `Arr::get`, as
    the keys card, number or phone. Empty when no key has such structure (the common case)."""
    if not any(key is not ANY and has_structure(key) for key in path):
        return []
    variants: list[Path] = [()]
    for key in path:
        choices: list[Path] = [(key,)]
        if key is not ANY and has_structure(key):
            choices += sorted(key_readings(key, LIMIT))
        variants = [(*v, *c)[:LIMIT] for v in variants for c in choices]
        if len(variants) > _MAX_KEY_READINGS:  # six keys with dots or brackets inside: not read, refused
            raise Unreadable("a field name holds too many keys that accessors read as paths")
    return [v for v in variants[1:] if v]


def _plain(name: str) -> list[Reading]:
    return [(index, (name,)) for index in range(len(FAMILY_READERS))]


def readings(name: str) -> frozenset[Reading]:
    """Every (family, case-folded path) an origin parser could store a value sent as `name` at.

    Unreadable when a family reads the name in a way not modelled (the caller refuses the request).
    """
    return _family_readings(_folded_variants(name))


@dataclass(frozen=True, slots=True)
class Found:
    """A name's readings by family, with the set of first keys that rules most patterns out in one step."""

    by_family: tuple[tuple[Path, ...], ...]  # indexed like FAMILY_READERS
    first_keys: frozenset[str]
    any_first: bool  # some reading starts with an array slot (qs `[0]`), which the quick test cannot rule out


def _found(variants: tuple[str, ...]) -> Found | str:
    try:
        paths = _family_readings(variants)
    except Unreadable as e:
        return str(e)
    by_family: list[list[Path]] = [[] for _ in FAMILY_READERS]
    for index, path in paths:
        by_family[index].append(path)
    firsts = {path[0] for _, path in paths}
    return Found(
        tuple(tuple(paths_) for paths_ in by_family),
        frozenset(key for key in firsts if key is not ANY),
        ANY in firsts,
    )


def _refuse_prototype(variants: tuple[str, ...]) -> None:
    """Unreadable when a family reads the name with a JavaScript prototype key: multer stores
    `__proto__[phone]` under a `__proto__` member, which `Object.assign({}, req.body)` makes the prototype
    of its result, so `.phone` reads it (json_keys.py). Compared case-folded, as every name here."""
    if any("__proto__" in v or "prototype" in v for v in variants) and any(
        reads_prototype(path) for _, path in _family_readings(variants)
    ):
        raise Unreadable("a field name reads as a JavaScript prototype key: __proto__, constructor.prototype")


def _variants_or_reason(name: str) -> tuple[str, ...] | str:
    try:
        variants = _folded_variants(name)
        _refuse_prototype(variants)
    except Unreadable as e:
        return str(e)
    return variants


_cached_variants = lru_cache(maxsize=1024)(_variants_or_reason)
_cached_found = lru_cache(maxsize=1024)(_found)


def _or_refuse(result: T | str) -> T:
    """The result, or RequestRefused when it is the reason a name cannot be read (never the name itself)."""
    if isinstance(result, str):
        raise RequestRefused(Reason.MALFORMED_INPUT, result)
    return result


def variants_or_refuse(name: str) -> tuple[str, ...]:
    """The folded generic readings; a form's field names repeat, so short ones are cached (refusals too)."""
    short = len(name) <= CACHED_NAME_LENGTH
    return _or_refuse(_cached_variants(name) if short else _variants_or_reason(name))


def found_or_refuse(variants: tuple[str, ...], short: bool) -> Found:
    return _or_refuse(_cached_found(variants) if short else _found(variants))
