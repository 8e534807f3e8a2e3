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

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar

from .errors import Reason, RequestRefused
from .name_readings import (
    CACHED_NAME_LENGTH,
    FAMILY_READERS,
    LIMIT,
    Found,
    Reading,
    found_or_refuse,
    readings,
    variants_or_refuse,
)
from .names_families import ANY, Key, Path
from .patterns import FieldPattern

__all__ = ["NameIndex", "compile_names", "pattern_paths", "readings", "tag_for"]

Tag = TypeVar("Tag")
K = TypeVar("K", str, bytes)


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
        for index, reader in enumerate(FAMILY_READERS):
            for path in reader(text, LIMIT):
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


def _may_match(wanted: _Wanted, found: Found) -> bool:
    """False when no reading of the name starts where any reading of the pattern(s) starts: one set test."""
    return (
        found.any_first
        or wanted.any_first
        or not wanted.first_keys.isdisjoint(found.first_keys)
        or any(key.startswith(wanted.first_prefixes) for key in found.first_keys)
    )


Entry = tuple[Tag, Path, bool]  # (tag, a family's path of a pattern, wildcard)


@dataclass(frozen=True, slots=True)
class NameIndex(Generic[Tag]):
    """Field patterns and their tags as each family reads them, indexed by (family, first key).

    A fact of the configuration alone: compiled once (`selection.Selection.compile`).
    """

    patterns: tuple[tuple[FieldPattern, Tag], ...]  # as given: the exact CloudFront match, in order
    firsts: _Wanted  # every pattern's first keys together, for the quick tests
    exact: dict[tuple[int, str], tuple[Entry[Tag], ...]]
    loose: tuple[tuple[Entry[Tag], ...], ...]  # per family: first key a prefix, an array slot or digits
    loose_prefixes: tuple[tuple[str, ...] | None, ...]  # per family: the prefixes, None when not all are
    # what `tag_for` answered for a name (str) and what `forms.rewrite` found for a raw form name (bytes):
    # a fact of the name and this index alone, remembered because the same forms arrive again and again;
    # refusals are not remembered (they are raised anew), and `remember` bounds both (MEMO_ENTRIES).
    memo: dict[str, Tag | None] = field(default_factory=dict, compare=False, repr=False)
    raw_memo: dict[bytes, Tag | None] = field(default_factory=dict, compare=False, repr=False)


def compile_names(patterns: Sequence[tuple[FieldPattern, Tag]]) -> NameIndex[Tag]:
    """Read every field-name pattern as each family would, and index the readings with their tags."""
    exact: dict[tuple[int, str], list[Entry[Tag]]] = {}
    loose: list[list[Entry[Tag]]] = [[] for _ in FAMILY_READERS]
    every: list[_Wanted] = []
    for pattern, tag in patterns:
        wanted = pattern_paths(pattern)
        every.append(wanted)
        for family, want in wanted.paths:
            first = want[0]
            if first is ANY or first.isdigit() or (pattern.wildcard and len(want) == 1):
                loose[family].append((tag, want, pattern.wildcard))
            else:
                exact.setdefault((family, first), []).append((tag, want, pattern.wildcard))
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
        tuple(patterns),
        firsts,
        {k: tuple(v) for k, v in exact.items()},
        tuple(tuple(v) for v in loose),
        tuple(prefixes),
    )


def _tags_read(compiled: NameIndex[Tag], found: Found) -> dict[int, Tag]:
    """The tags (by identity) some family's reading of the name selects."""
    out: dict[int, Tag] = {}
    for family, paths in enumerate(found.by_family):
        for path in paths:
            first = path[0]
            candidates = compiled.loose[family]
            prefixes = compiled.loose_prefixes[family]
            if prefixes is not None and first is not ANY and not first.startswith(prefixes):
                candidates = ()  # one C call rules out every one-key wildcard of this family
            if first is not ANY:
                candidates = candidates + compiled.exact.get((family, first), ())
            for tag, want, wildcard in candidates:
                if id(tag) not in out and _starts_with(path, want, wildcard):
                    out[id(tag)] = tag
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


MEMO_ENTRIES = 4096  # names remembered per index and kind; a full memo starts over (bounded memory)
MEMO_NAME_LENGTH = CACHED_NAME_LENGTH  # longer names are read every time


def remember(memo: dict[K, Tag | None], name: K, tag: Tag | None) -> Tag | None:
    """Note `tag` as the answer for `name` in `memo` (starting over when it is full), and return it."""
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()
    memo[name] = tag
    return tag


def tag_for(index: NameIndex[Tag], name: str) -> Tag | None:
    """The tag of the field sent as `name`: exact CloudFront match first, then any family's reading.

    RequestRefused when the readings select fields of two tags (no one transform fits) or a family reads
    the name in a way not modelled; the detail never quotes the name. The answer for a short name is
    remembered in `index.memo` (a refusal is not: it is raised again).
    """
    if len(name) > MEMO_NAME_LENGTH:
        return _tag_for(index, name)
    memo = index.memo
    try:
        return memo[name]  # one lookup: another thread (a token's rewrite, off the loop) may clear it
    except KeyError:
        return remember(memo, name, _tag_for(index, name))


def _tag_for(index: NameIndex[Tag], name: str) -> Tag | None:
    for pattern, tag in index.patterns:
        if pattern.matches(name):
            return tag
    variants = variants_or_refuse(name)
    firsts = index.firsts
    if not firsts.any_first and not any(_holds_a_first_key(v, firsts.needles) for v in variants):
        return None
    found = found_or_refuse(variants, len(name) <= CACHED_NAME_LENGTH)
    if not _may_match(firsts, found):
        return None
    tags = list(_tags_read(index, found).values())
    if len(tags) > 1:
        raise RequestRefused(Reason.MALFORMED_INPUT, "a field name reads as protected fields of two entities")
    return tags[0] if tags else None
