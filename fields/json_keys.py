"""How applications read a JSON member's key as a path: the key readings of the JSON codec.

A parser stores `{"card.number": 1}` under the one key `card.number`, but the accessors applications read
a parsed body with take a path string, and find that member when asked for the path `card.number`:
lodash `_.get(body, "card.number")` returns a member of that exact name before it splits the path (its
`isKey`), Laravel's `Arr::get` does too, and `Arr::undot`, lodash `_.set` over each key, MongoDB's `$set`
and the common "unflatten" helpers build `card: {number: 1}` from it. So a key is read two ways besides
its literal self (each one linear pass, bounded to the keys a pattern can still compare):

| reading | accessors                                                         | `a.b[c]['d']` is |
|---------|-------------------------------------------------------------------|------------------|
| dotted  | Laravel data_get, Arr::get/set/undot; MongoDB `$set`; unflatteners | a, b[c]['d']     |
| lodash  | lodash get/set/has/result/unset (`stringToPath`, 4.17)            | a, b, c, d       |

A member whose key reads as a protected path (or a path beneath one) is encrypted like that path: the
codec derives, when it meets such a key, the pattern that selects it (`derived`).

JavaScript's prototype keys are not read through but refused (`prototype_key`): `{"__proto__": {...}}`
becomes the prototype of the object `Object.assign({}, body)` returns, so its members are read as the
body's own, and `constructor.prototype` reaches every object through a merge or `_.set`. No API needs
those keys; Fastify's secure-json-parse refuses the same two shapes by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TypeVar

from .json_pointer import JsonPointerPattern

Tag = TypeVar("Tag")
Live = tuple[tuple[JsonPointerPattern, Tag], ...]

# lodash 4.17.21 stringToPath: a run of other characters, a `[number]`, a quoted `["..."]`/`['...']` (with
# backslash escapes), or an empty key before `.`/`[]`. Each alternative is tried once per position and the
# quoted one stops at its first unescaped quote, so one finditer pass is linear in the key.
_LODASH_PROP = re.compile(
    r"""[^.[\]]+|\[(?:(-?\d+(?:\.\d+)?)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]|(?=(?:\.|\[\])(?:\.|\[\]|$))"""
)
_LODASH_ESCAPE = re.compile(r"\\(\\)?")
# A JSON text holding none of these cannot hold a key `__proto__` or `prototype`, even escaped: the
# literal words, or a \u escape of one of their letters (_ e o p r t y). One C-speed search per body.
PROTOTYPE_HINT = re.compile(r"__proto__|prototype|\\u00(?:5[fF]|6[5fF]|7[0249])")


def has_structure(key: str) -> bool:
    """Whether some reading of `key` differs from the literal key (three C-speed substring tests)."""
    return "." in key or "[" in key or "]" in key


def _lodash(key: str, limit: int) -> tuple[str, ...]:
    out = [""] if key.startswith(".") else []
    for match in islice(_LODASH_PROP.finditer(key), limit + 1):
        number, quote, quoted = match.groups()
        out.append(_LODASH_ESCAPE.sub(r"\1", quoted) if quote else (number or match.group(0)))
    return tuple(out[: limit + 1])


def readings(key: str, limit: int) -> set[tuple[str, ...]]:
    """The paths accessors read `key` as, besides the key itself; each cut to its first `limit + 1` keys
    (enough to tell whether it selects, or lies beneath, a path of `limit` keys)."""
    dotted = tuple(key.split(".", limit + 1)[: limit + 1])
    return {reading for reading in (dotted, _lodash(key, limit)) if reading != (key,)}


def _selects(reading: tuple[str, ...], rest: tuple[str | None, ...]) -> bool:
    """Whether a reading equals the start of `rest` (a pattern's keys from here), or starts with all of it."""
    return all(want is None or want == key for want, key in zip(rest, reading, strict=False))


def derived(path: tuple[str | int, ...], key: str, live: Live[Tag]) -> Live[Tag]:
    """Patterns that select the member `key` at `path` because a reading of `key` is a live pattern's path.

    A reading as long as the pattern's remaining keys, or longer (a value beneath the selected one), makes
    the member itself selected; a shorter one leaves the pattern's remaining keys to select beneath it.
    """
    depth = len(path)
    limit = max((len(pattern.segments) - depth for pattern, _ in live), default=0)
    if limit <= 0:
        return ()
    out: list[tuple[JsonPointerPattern, Tag]] = []
    for reading in readings(key, limit):
        for pattern, tag in live:
            rest = pattern.segments[depth:]
            if len(rest) > 0 and _selects(reading, rest):
                tail = rest[len(reading) :] if len(reading) < len(rest) else ()
                segments = (*pattern.segments[:depth], key, *tail)
                out.append((JsonPointerPattern(pattern.text, segments), tag))
    return tuple(out)


def pattern_readings(pattern: JsonPointerPattern, cap: int = 64) -> list[JsonPointerPattern]:
    """The pattern as an application reading its keys as paths would look it up: `/card.number` is also
    `/card/number` (Laravel's `input('card.number')` reads only the nested one). At most `cap` of them."""
    variants: list[tuple[str | None, ...]] = [()]
    for segment in pattern.segments:
        choices: list[tuple[str | None, ...]] = [(segment,)]
        if segment is not None and has_structure(segment):
            choices += sorted(readings(segment, len(segment)))
        variants = [(*v, *c) for v in variants for c in choices][:cap]
    return [JsonPointerPattern(pattern.text, segments) for segments in variants[1:]]


def reads_prototype(reading: Iterable[str | None]) -> bool:
    """Whether a path holds a `__proto__` key or `constructor` followed by `prototype`."""
    previous = None
    for key in reading:
        if key == "__proto__" or (previous == "constructor" and key == "prototype"):
            return True
        previous = key
    return False


def prototype_key(key: str, value: object) -> bool:
    """Whether a member reads as a JavaScript prototype: a `__proto__` key, `constructor` then
    `prototype`, in the key itself, its readings, or a `constructor` key whose object holds `prototype`."""
    if "__proto__" not in key and "prototype" not in key and "constructor" not in key:
        return False
    paths = [(key,), *readings(key, 64)]
    if any(reads_prototype(path) for path in paths):
        return True
    if isinstance(value, Mapping) and any(path[-1:] == ("constructor",) for path in paths):
        return any(
            "prototype" in inner and any(r[:1] == ("prototype",) for r in ((inner,), *readings(inner, 1)))
            for inner in value
        )
    return False
