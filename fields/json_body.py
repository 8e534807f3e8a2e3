"""Rewrite a JSON body: encrypt the values a profile's JSON-pointer patterns select, keep every other byte.

The body's nesting depth is checked first (one linear pass), then a small scanner walks the paths the
patterns can reach and records where each selected value starts and ends, handing every subtree no
pattern can reach to the standard library's C parser (strict: duplicate keys and NaN refused), so each
byte is parsed once, in time linear in the body; nothing is re-serialised. A selected
string is replaced by `"<base64 message>"` whose plaintext is the string's decoded text in UTF-8; a
selected number, `true`, `false`, `null`, object or array becomes such a string too, its plaintext the
value's exact JSON text as sent (`1.50` stays `1.50`).

Refused with 400 before anything is encrypted: a body that is not UTF-8 JSON (a BOM, NaN, trailing
data, control characters in strings all count), an object with a key twice (parsers disagree on which
wins, so the origin might read the plaintext copy), nesting deeper than `MAX_DEPTH`, and a selected string
holding a lone surrogate escape (it has no UTF-8 form). Keys are compared with the patterns
case-insensitively (after their escapes are decoded), because Go's encoding/json, Jackson and
System.Text.Json (by option) bind `"PHONE"` to a field named `phone`. The body size is bounded by
`Limits.max_body_bytes`.

Keys are also read as applications' accessors read them (json_keys.py): a member `"card.number"` or
`"card[number]"` is selected as `/card/number` would be, since lodash `_.get` and Laravel's `Arr::get`
return it for that path. A key JavaScript reads as a prototype (`__proto__`, `constructor` then
`prototype`) anywhere in the body is refused (PrototypeKeyClientError).
"""

from __future__ import annotations

import json
import re
from _json import scanstring  # the C scanner json.decoder uses (the same object); typed only here
from dataclasses import dataclass
from itertools import accumulate
from json import JSONDecodeError
from typing import Generic, TypeVar

from .errors import Reason, RequestRefused
from .json_keys import PROTOTYPE_HINT, derived, has_structure, prototype_key
from .json_pointer import JsonPointerPattern, Path
from .limits import FieldBudget, Limits
from .selection import Rewritten, Selection, Selects, Transform, selection_of

MAX_DEPTH = 64  # nested objects/arrays; deeper documents are refused
_WS = re.compile(r"[ \t\n\r]*")  # matches the empty string: .match() is never None (hence the ignore)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = ("true", "false", "null")
# A string token, possessive (`*+`, `++`: no backtracking) and total: from a `"` it always matches, up to
# the closing quote or, for an unterminated string, to the end of the text (`\\?\Z`: a final lone
# backslash). So `sub` consumes every string in one step and never restarts inside one: one linear pass.
# The old `"(?:[^"\\]|\\.)*"` failed on an unterminated string and was retried from every later quote,
# which made `"\\"\\"\\...` quadratic (100 KB: ~20 s of one worker's event loop).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
Tag = TypeVar("Tag")
_Live = tuple[tuple[JsonPointerPattern, Tag], ...]  # (case-folded pattern, tag) pairs that may still select


def _invalid(detail: str) -> RequestRefused:
    return RequestRefused(Reason.INVALID_JSON, detail)


class _DuplicateKey(Exception):
    """An object in the body has a key twice."""


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _too_deep(max_depth: int) -> RequestRefused:
    return RequestRefused(Reason.JSON_DEPTH_LIMIT, f"JSON nested deeper than {max_depth} levels")


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than `max_depth` before any parser recurses into it.

    Linear in the body: one possessive regex pass drops the strings, one pass counts the brackets left.
    """
    brackets = _BRACKETS.findall(_STRING.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth:
        raise _too_deep(max_depth)


def _skip(text: str, i: int) -> int:
    """Where the value at `i` ends, validated strictly (duplicates, NaN) by the C parser, once."""
    try:
        return _STRICT.raw_decode(text, i)[1]
    except _DuplicateKey:
        raise _duplicate() from None
    except JSONDecodeError as e:
        raise _invalid(f"invalid JSON at character {e.pos}: {e.msg}") from None
    except (ValueError, RecursionError) as e:
        raise _invalid(f"invalid JSON: {e}") from None


class _PrototypeKey(Exception):
    """An object in the body has a key JavaScript reads as a prototype."""


def _no_prototype(pairs: list[tuple[str, object]]) -> dict[str, object]:
    if any(prototype_key(key, value) for key, value in pairs):
        raise _PrototypeKey
    return dict(pairs)


_PROTOTYPE_CHECK = json.JSONDecoder(object_pairs_hook=_no_prototype)


def _refuse_prototype_keys(text: str) -> None:
    """Refuse a body (already validated) with a `__proto__` key or a `constructor` then `prototype`
    anywhere, protected or not: JavaScript origins read them as prototypes (json_keys.py)."""
    try:
        _PROTOTYPE_CHECK.decode(text)
    except _PrototypeKey:
        raise RequestRefused(
            Reason.PROTOTYPE_KEY, "an object in the body has a JavaScript prototype key"
        ) from None


def _duplicate() -> RequestRefused:
    return RequestRefused(Reason.DUPLICATE_JSON_KEY, "an object in the body has a key twice")


@dataclass(frozen=True, slots=True)
class _Hit(Generic[Tag]):
    start: int
    end: int
    tag: Tag
    text: str | None  # the decoded string, or None when the plaintext is the JSON text itself
    member: bool  # an object's member (siblings may follow it), not an array's element


class _Scanner(Generic[Tag]):
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.max_depth = max_depth
        self.hits: list[_Hit[Tag]] = []

    def ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()  # type: ignore[union-attr]

    def value(self, i: int, path: Path, depth: int, live: _Live[Tag]) -> int:
        """Scan the value at `i`; return where it ends. `live`: patterns that may select here or below."""
        tag = next((t for p, t in live if p.matches(path)), None)
        if tag is None and not live:  # nothing selects here or below: skip it with the C parser
            return _skip(self.text, i)
        if tag is not None:
            live = ()
        text = self.text
        char = text[i : i + 1]
        decoded: str | None = None
        if char == '"':
            decoded, end = self.string(i)
        elif char in ("{", "["):
            if depth >= self.max_depth:
                raise _too_deep(self.max_depth)
            end = self.container(i, path, depth + 1, live)
        elif match := _NUMBER.match(text, i):
            end = match.end()
        else:
            for literal in _LITERALS:
                if text.startswith(literal, i):
                    end = i + len(literal)
                    break
            else:
                raise _invalid(f"invalid JSON: expected a value at character {i}")
        if tag is not None:
            self.hits.append(_Hit(i, end, tag, decoded, bool(path) and isinstance(path[-1], str)))
        return end

    def string(self, i: int) -> tuple[str, int]:
        try:
            return scanstring(self.text, i + 1, True)
        except JSONDecodeError as e:
            raise _invalid(f"invalid JSON string at character {e.pos}: {e.msg}") from None

    def container(self, i: int, path: Path, depth: int, live: _Live[Tag]) -> int:
        """Scan the object or array at `i`. A child no live pattern names (by key, index or `*`) is
        skipped by the C parser at once: a wide container costs about one C call per child."""
        text = self.text
        is_object = text[i] == "{"
        wanted = {pattern.segments[len(path)] for pattern, _ in live}  # live patterns reach below path
        every = None in wanted
        if not is_object and not every and not any(w is not None and w.isdigit() for w in wanted):
            return _skip(text, i)  # an array no pattern indexes into
        close = "}" if is_object else "]"
        i = self.ws(i + 1)
        if text[i : i + 1] == close:
            return i + 1
        index = 0
        keys: set[str] = set()
        while True:
            key: str | int = index
            if is_object:
                if text[i : i + 1] != '"':
                    raise _invalid(f"invalid JSON: expected a string key at character {i}")
                key, i = self.string(i)
                if key in keys:
                    raise _duplicate()
                keys.add(key)
                i = self.ws(i)
                if text[i : i + 1] != ":":
                    raise _invalid(f"invalid JSON: expected ':' at character {i}")
                i = self.ws(i + 1)
            step = key.casefold() if isinstance(key, str) else key
            # a key an accessor reads as a path (`card.number`) is selected as that path would be
            read_as = derived(path, step, live) if isinstance(step, str) and has_structure(step) else ()
            if every or read_as or (step if isinstance(step, str) else str(step)) in wanted:
                child = (*path, step)
                nested = tuple(pe for pe in live if pe[0].may_select_under(child)) + read_as
                i = self.ws(self.value(i, child, depth, nested))
            else:
                i = self.ws(_skip(text, i))
            index += 1
            char = text[i : i + 1]
            if char == close:
                return i + 1
            if char != ",":
                raise _invalid(f"invalid JSON: expected ',' or {close!r} at character {i}")
            i = self.ws(i + 1)


def _written(hit: _Hit[Tag], out: bytes | Rewritten) -> list[str]:
    """The value as written back, a JSON string holding the transform's (escaped, ASCII) bytes, then each
    sibling as a member of the same object right after it."""
    if not isinstance(out, Rewritten):
        return ['"', out.decode("ascii"), '"']
    pieces = ['"', out.value.decode("ascii"), '"']
    if out.siblings and not hit.member:
        raise ValueError("siblings can follow an object's member only, not an array's element")
    for name, value in out.siblings:
        pieces += [",", json.dumps(name), ':"', value.decode("ascii"), '"']
    return pieces


def rewrite(
    body: bytes,
    selection: Selection[Tag] | Selects[Tag],
    transform: Transform[Tag],
    limits: Limits,
    max_depth: int = MAX_DEPTH,
) -> tuple[bytes, int]:
    """Return the rewritten body and the number of values transformed; RequestRefused when it must not pass.

    `transform` returns the inside of a JSON string (escaped, ASCII): the codec writes the quotes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("a JSON body must be UTF-8") from None
    _check_depth(text, max_depth)
    live = selection_of(selection).pointers
    scanner: _Scanner[Tag] = _Scanner(text, max_depth)
    end = scanner.ws(scanner.value(scanner.ws(0), (), 0, live))
    if end != len(text):
        raise _invalid(f"invalid JSON: unexpected data at character {end}")
    # rare: only then is every key of the body looked at once more (two memchr-speed searches first)
    if ("proto" in text or "\\u00" in text) and PROTOTYPE_HINT.search(text):
        _refuse_prototype_keys(text)
    budget = FieldBudget(limits)
    budget.count(len(scanner.hits))  # every hit is counted and measured before the first is encrypted
    plaintexts: list[bytes] = []
    for hit in scanner.hits:
        try:
            plaintext = (text[hit.start : hit.end] if hit.text is None else hit.text).encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid("a protected string holds a lone surrogate escape") from None
        budget.length(len(plaintext))
        plaintexts.append(plaintext)
    pieces: list[str] = []
    done = 0
    for hit, plaintext in zip(scanner.hits, plaintexts, strict=True):
        pieces.append(text[done : hit.start])
        pieces += _written(hit, transform(plaintext, hit.tag))
        done = hit.end
    pieces.append(text[done:])
    return "".join(pieces).encode("utf-8"), len(scanner.hits)
