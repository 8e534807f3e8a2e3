"""Which protected field a form or multipart field name could be, as any origin framework reads names.

CloudFront compares a field name exactly, but origin frameworks do not read the name the client sent: qs
(Express) reads `[phone]` and `user[phone][x]` as objects, PHP turns `a.b` into `a_b` and drops `a[b]c`'s
`c`, Rack reads `phone]x` as phone.x, Spring binds `!phone` to phone, ASP.NET compares keys
case-insensitively, a C parser stops at a NUL, an application may percent-decode twice or NFKC-normalise,
a MIME library may decode an RFC 2047 word. So a name is read two ways, each bounded and linear:

1. generic readings (`names_generic.py`): as sent, trimmed, cut at NUL, NFKC, decoded once more, RFC 2047
   decoded, and two fixed chains of those; at most eight strings, each one pass.
2. each family's reading (`names_families.py`) of each variant: the object path that parser stores the
   value at. A pattern is read by the same family (`user[phone]` is user.phone for qs, PHP and Rack).

The name is protected when, for some family, a path of the name starts with a pattern's path (compared
case-folded; a wildcard's last key compares as a prefix). Encrypting one field too many is safe;
forwarding a plaintext the origin reads as protected is not. A name that reads as fields of two different
entities, or that a family reads in a way not modelled, is refused (MalformedInputClientError).

Each key of a family's path is also read as applications' accessors read keys (json_keys.py: multer keeps
`[[phone][` whole, and lodash `_.set` reads it as phone), and a name any family reads with a JavaScript
prototype key (`__proto__[phone]`, `constructor[prototype][phone]`) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from profiles import EncryptionEntity, Profile

from .errors import Reason, RequestRefused
from .json_keys import has_structure, reads_prototype
from .json_keys import readings as key_readings
from .names_families import ANY, FAMILIES, Key, Path, Unreadable, read_simple
from .names_generic import variants as _variants
from .patterns import MAX_PATTERN_LENGTH, FieldPattern

_LIMIT = MAX_PATTERN_LENGTH // 2 + 2  # a pattern has at most this many keys; longer prefixes decide nothing
_CACHED_NAME_LENGTH = 128  # the readings of names up to this long are remembered (bounded memory)
_STRUCTURE = re.compile(r"[\[\]. \x00]")  # a character some family reads as structure (with a `!`/`_` lead)

Reading = tuple[int, Path]  # (family index, case-folded path)
T = TypeVar("T")
_FAMILY_READERS = tuple(FAMILIES.values())


def _folded_variants(name: str) -> tuple[str, ...]:
    """The generic readings of `name`, case-folded: what the family readers are given."""
    return tuple({variant.casefold() for variant in _variants(name)})


def _family_readings(variants: tuple[str, ...]) -> frozenset[Reading]:
    out: set[Reading] = set()
    for folded in variants:
        if folded and _STRUCTURE.search(folded) is None and not folded.startswith(("!", "_")):
            out.update(_plain(folded))  # every family keeps such a name whole
            continue
        simple = read_simple(folded, _LIMIT)
        if simple is not None:
            out.update(simple)
            continue
        for index, reader in enumerate(_FAMILY_READERS):
            for path in reader(folded, _LIMIT):
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
            choices += sorted(key_readings(key, _LIMIT))
        variants = [(*v, *c)[:_LIMIT] for v in variants for c in choices]
        if len(variants) > _MAX_KEY_READINGS:  # six keys with dots or brackets inside: not read, refused
            raise Unreadable("a field name holds too many keys that accessors read as paths")
    return [v for v in variants[1:] if v]


def _plain(name: str) -> list[Reading]:
    return [(index, (name,)) for index in range(len(_FAMILY_READERS))]


def readings(name: str) -> frozenset[Reading]:
    """Every (family, case-folded path) an origin parser could store a value sent as `name` at.

    Unreadable when a family reads the name in a way not modelled (the caller refuses the request).
    """
    return _family_readings(_folded_variants(name))


@dataclass(frozen=True, slots=True)
class _Found:
    """A name's readings by family, with the set of first keys that rules most patterns out in one step."""

    by_family: tuple[tuple[Path, ...], ...]  # indexed like _FAMILY_READERS
    first_keys: frozenset[str]
    any_first: bool  # some reading starts with an array slot (qs `[0]`), which the quick test cannot rule out


def _found(variants: tuple[str, ...]) -> _Found | str:
    try:
        paths = _family_readings(variants)
    except Unreadable as e:
        return str(e)
    by_family: list[list[Path]] = [[] for _ in _FAMILY_READERS]
    for index, path in paths:
        by_family[index].append(path)
    firsts = {path[0] for _, path in paths}
    return _Found(
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


def _variants_or_refuse(name: str) -> tuple[str, ...]:
    """The folded generic readings; a form's field names repeat, so short ones are cached (refusals too)."""
    short = len(name) <= _CACHED_NAME_LENGTH
    return _or_refuse(_cached_variants(name) if short else _variants_or_reason(name))


def _found_or_refuse(variants: tuple[str, ...], short: bool) -> _Found:
    return _or_refuse(_cached_found(variants) if short else _found(variants))


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A pattern's readings (family, path), and its possible first keys for the quick test."""

    paths: tuple[Reading, ...]
    first_keys: frozenset[str]  # exact first keys
    first_prefixes: tuple[str, ...]  # first keys of a one-key wildcard: prefixes
    any_first: bool  # a first key an array slot may stand for (ANY or digits)
    needles: tuple[str, ...] = ()  # first keys and prefixes together, for the substring test


@lru_cache(maxsize=1024)
def pattern_paths(pattern: FieldPattern) -> _Wanted:
    """The path each family reads a pattern as, case-folded; for a wildcard, its last key is a prefix.

    A wildcard prefix may stop inside a bracket group (`user[ca*`): it is also read as if the group closed
    there, so `user[card]` (user.card) still starts with it.
    """
    texts = [pattern.prefix.casefold()]
    if pattern.wildcard and texts[0].rfind("[") > texts[0].rfind("]"):
        texts.append(texts[0] + "]")
    out: set[Reading] = set()
    for text in texts:
        for index, reader in enumerate(_FAMILY_READERS):
            for path in reader(text, _LIMIT):
                if pattern.wildcard and text.endswith("[]") and path and path[-1] is ANY:
                    path = (*path[:-1], "")  # `a[*`: any key under a
                if path:
                    out.add((index, path))
    firsts = [(path[0], pattern.wildcard and len(path) == 1) for _, path in out]
    return _Wanted(
        paths=tuple(out),
        first_keys=frozenset(k for k, prefix in firsts if k is not ANY and not prefix),
        first_prefixes=tuple(k for k, prefix in firsts if k is not ANY and prefix),
        any_first=any(k is ANY or k.isdigit() or (prefix and k == "") for k, prefix in firsts),
    )


def _key_matches(key: Key, want: Key, prefix: bool) -> bool:
    if want is ANY or key is ANY:
        other = key if want is ANY else want
        return other is ANY or (other.isascii() and other.isdigit()) or (prefix and other == "")
    return key.startswith(want) if prefix else key == want


def _starts_with(path: Path, want: Path, wildcard: bool) -> bool:
    if len(path) < len(want):
        return False
    last = len(want) - 1
    for i, wanted in enumerate(want):
        key = path[i]
        if key != wanted and not _key_matches(key, wanted, wildcard and i == last):
            return False
    return True


def _may_match(wanted: _Wanted, found: _Found) -> bool:
    """False when no reading of the name starts where any reading of the pattern(s) starts: one set test."""
    return (
        found.any_first
        or wanted.any_first
        or not wanted.first_keys.isdisjoint(found.first_keys)
        or any(key.startswith(wanted.first_prefixes) for key in found.first_keys)
    )


Entry = tuple[EncryptionEntity, Path, bool]  # (entity, a family's path of a pattern, wildcard)


@dataclass(frozen=True, slots=True)
class NameIndex:
    """A profile's field patterns as each family reads them, indexed by (family, first key).

    A fact of the configuration alone: built once per profile when the config loads (`compiled.py`).
    """

    profile: Profile
    firsts: _Wanted  # every pattern's first keys together, for the quick tests
    exact: dict[tuple[int, str], tuple[Entry, ...]]
    loose: tuple[tuple[Entry, ...], ...]  # per family: first key a prefix, an array slot or digits
    loose_prefixes: tuple[tuple[str, ...] | None, ...]  # per family: the prefixes, None when not all are


def compile_names(profile: Profile) -> NameIndex:
    """Read every field-name pattern of `profile` as each family would, and index the readings."""
    exact: dict[tuple[int, str], list[Entry]] = {}
    loose: list[list[Entry]] = [[] for _ in _FAMILY_READERS]
    every: list[_Wanted] = []
    for entity in profile.entities:
        for pattern in entity.patterns:
            if not isinstance(pattern, FieldPattern):
                continue
            wanted = pattern_paths(pattern)
            every.append(wanted)
            for family, want in wanted.paths:
                first = want[0]
                if first is ANY or first.isdigit() or (pattern.wildcard and len(want) == 1):
                    loose[family].append((entity, want, pattern.wildcard))
                else:
                    exact.setdefault((family, first), []).append((entity, want, pattern.wildcard))
    firsts = _Wanted(
        paths=(),
        first_keys=frozenset().union(*(w.first_keys for w in every)),
        first_prefixes=tuple(prefix for w in every for prefix in w.first_prefixes),
        any_first=any(w.any_first for w in every),
        needles=tuple({key for w in every for key in (*w.first_keys, *w.first_prefixes)}),
    )
    prefixes: list[tuple[str, ...] | None] = []
    for entries in loose:
        plain = all(w[0] is not ANY and wildcard and len(w) == 1 for _, w, wildcard in entries)
        prefixes.append(tuple(str(w[0]) for _, w, _ in entries) if plain else None)
    return NameIndex(
        profile,
        firsts,
        {k: tuple(v) for k, v in exact.items()},
        tuple(tuple(v) for v in loose),
        tuple(prefixes),
    )


def _entities_read(compiled: NameIndex, found: _Found) -> dict[int, EncryptionEntity]:
    """The ids of the entities some family's reading of the name selects."""
    out: dict[int, EncryptionEntity] = {}
    for family, paths in enumerate(found.by_family):
        for path in paths:
            first = path[0]
            candidates = compiled.loose[family]
            prefixes = compiled.loose_prefixes[family]
            if prefixes is not None and first is not ANY and not first.startswith(prefixes):
                candidates = ()  # one C call rules out every one-key wildcard of this family
            if first is not ANY:
                candidates = candidates + compiled.exact.get((family, first), ())
            for entity, want, wildcard in candidates:
                if id(entity) not in out and _starts_with(path, want, wildcard):
                    out[id(entity)] = entity
    return out


def _holds_a_first_key(variant: str, needles: tuple[str, ...]) -> bool:
    """Whether some pattern's first key occurs in a variant, as written or as PHP mangles it.

    Every family's first key is a substring of the variant it reads (PHP's also after ` `, `.` and `[`
    become `_`), so a variant holding none of the patterns' first keys cannot be read as any of them:
    most unprotected names are settled here, by substring searches, without running the readers.
    """
    if any(needle in variant for needle in needles):
        return True
    if "\\" in variant:  # lodash drops the backslash of `['p\\hone']`: read as phone
        return _holds_a_first_key(variant.replace("\\", ""), needles)
    mangled = variant.replace(" ", "_").replace(".", "_").replace("[", "_")
    return mangled is not variant and any(needle in mangled for needle in needles)


def entity_for(index: NameIndex | Profile, name: str) -> EncryptionEntity | None:
    """The entity that protects a field sent as `name`: exact CloudFront match first, then any reading.

    `index` is the profile's NameIndex compiled at load; a bare Profile (tests, tools) is indexed now.

    RequestRefused when the readings select fields of two entities (no one key fits) or a family reads the
    name in a way not modelled; the detail never quotes the name.
    """
    exact = (index.profile if isinstance(index, NameIndex) else index).entity_for(name)
    if exact is not None:
        return exact
    variants = _variants_or_refuse(name)
    compiled = index if isinstance(index, NameIndex) else compile_names(index)
    firsts = compiled.firsts
    if not firsts.any_first and not any(_holds_a_first_key(v, firsts.needles) for v in variants):
        return None
    found = _found_or_refuse(variants, len(name) <= _CACHED_NAME_LENGTH)
    if not _may_match(firsts, found):
        return None
    entities = list(_entities_read(compiled, found).values())
    if len(entities) > 1:
        raise RequestRefused(Reason.MALFORMED_INPUT, "a field name reads as protected fields of two entities")
    return entities[0] if entities else None
