"""How each family of origin parsers turns a form field name into the object path it stores the value at.

Each reader is written from the family's own source and returns the PATH (a tuple of keys) its parser builds
from one name, or None when that parser drops the value. `ANY` stands for an array position chosen by the
parser (`a[]`, or an index that qs compacts), so it may equal any index a pattern names. Every reader is one
left-to-right pass with `str.find` (no backtracking regex) and stops after `limit` keys: a protected pattern
has at most 128 characters, so no longer prefix can decide anything, and a 1 MB name costs what `find` costs.

| reader      | parser it follows (version proven in tests/security/test_name_readings.py)                |
|-------------|-------------------------------------------------------------------------------------------|
| qs_extended | qs lib/parse.js, as body-parser `extended: true` calls it (Express 4 default; Express 5)  |
| qs_flat     | qs with depth 0 (Express 5's default `extended: false`): one wrapping `[...]` dropped     |
| php         | php_register_variable_ex (main/php_variables.c): `$_POST`, `$_FILES`, parse_str           |
| rack2       | Rack 2.2 Rack::QueryParser#normalize_params (Rails, Sinatra)                              |
| rack3       | Rack 3.1 Rack::QueryParser#_normalize_params (from source; not installed here)            |
| multer      | append-field 1.0 lib/parse-path.js (multer's text fields)                                 |
| spring      | Spring WebDataBinder: `!name` default, `_name` marker, `a.b`, `a[k]`, `a['k']` paths      |
| flat        | Werkzeug/Flask, Django QueryDict, Go url.ParseQuery/FormValue, Java getParameter          |
"""

from __future__ import annotations

from .names_brackets import (
    _BRACKET,
    _NOT_BRACKET,
    _NOT_CLOSE,
    ANY,
    WINDOW,
    Key,
    Path,
    Reader,
    Unreadable,
    _balanced_close,
    _next_bracket,
)

__all__ = ["ANY", "FAMILIES", "WINDOW", "Key", "Path", "Unreadable", "qs_key"]


def qs_key(content: str) -> Key:
    """qs stores `[]` and a canonical non-negative integer as array slots, which it later compacts."""
    if content == "" or (content.isascii() and content.isdigit() and str(int(content)) == content):
        return ANY
    return content


def qs_extended(name: str, limit: int) -> list[Path]:
    """qs splitKeyIntoSegments + parseObject (allowDots off, allowPrototypes on, as body-parser calls it).

    The parent is the text before the first `[` (none for `[phone]`); each balanced `[...]` group is a key;
    text between or after groups is ignored (`phone[a]b` -> phone.a); an unterminated group is one key
    holding the rest with its `[` (`a[b` -> a."[b"). qs splits a pair at the first `]=` when there is one,
    so the key of `a[b=x]=v` runs into what we call the value; forms.py refuses such values, and this
    reader also reads an unterminated last group as if closed (`[card` as "card") for wildcards.
    """
    first = name.find("[")
    path: list[Key] = [name if first < 0 else name[:first]] if first != 0 else []
    open_ = first
    while open_ >= 0 and len(path) < limit:
        close = _balanced_close(name, open_)
        if close == -2:
            return [(*path, name[open_ + 1 : open_ + 1 + WINDOW]), (*path, name[open_ : open_ + WINDOW])]
        if close < 0:
            rest = name[open_:]
            return [(*path, rest), (*path, rest[1:])]
        path.append(qs_key(name[open_ + 1 : close]))
        open_ = name.find("[", close + 1)
    return [tuple(path)]


def qs_flat(name: str, limit: int) -> list[Path]:
    """qs with depth 0: the whole name is one key, less one wrapping `[...]` (`[phone]` is phone)."""
    if len(name) >= 2 and name[0] == "[" and name[-1] == "]":
        return [(qs_key(name[1:-1]),)]
    return [(name,)]


def _php_flat(rest: str) -> str:
    return rest.replace(" ", "_").replace(".", "_").replace("[", "_")


def php(name: str, limit: int) -> list[Path]:
    """php_register_variable_ex: C string (cut at NUL), leading spaces dropped, ` ` and `.` before the first
    `[` become `_`; an empty base drops the value (`[phone]` is ignored); each `[...]` is a key (`[ ]` and
    `[]` append); after a group anything but `[` ends the name (`a[b]c` is a.b); an unterminated first group
    makes the whole rest flat (`a[b.c` is `a_b_c`), a later one is dropped (`a[b][c` is a.b).
    """
    name = name.split("\x00", 1)[0]
    name = name.lstrip(" ") if name.startswith(" ") else name
    first = name.find("[")
    head = _php_flat(name if first < 0 else name[:first])
    if not head:
        return []
    if first < 0:
        return [(head,)]
    path: list[Key] = [head]
    ip = first
    while len(path) < limit:
        start = ip + 1
        skip = start + 1 if start < len(name) and name[start] in " \t\n\v\f\r" else start
        if skip < len(name) and name[skip] == "]":
            path.append(ANY)
            close = skip
        else:
            close = name.find("]", skip)
            if close < 0:
                if len(path) == 1:
                    return [(head + "_" + _php_flat(name[start:]),)]
                break
            path.append(name[start:close])
        ip = close + 1
        if ip >= len(name) or name[ip] != "[":
            break
    return [tuple(path)]


def _rack_array_tail(name: str, pos: int) -> str | None:
    """Rack's `x[][y]` (a hash in an array): the bracket-free `y` when name[pos:] is `[][y]`, else None."""
    end = len(name)
    simple = end - pos > 4 and name[pos + 2] == "[" and name[-1] == "]"
    return name[pos + 3 : -1] if simple and _BRACKET.search(name, pos + 3, end - 1) is None else None


def rack2(name: str, limit: int) -> list[Path]:
    """Rack 2.2 normalize_params: `\\A[\\[\\]]*([^\\[\\]]+)\\]*` takes the key (so leading brackets
    are dropped, `[phone]` is phone, and `phone]x` is phone.x), then recurses on what follows (`after`)."""
    if "\n" in name and "[" in name:
        # Rack 2 tests `^\[\]...$` with Ruby's line anchors, so a later line can pick the child key.
        raise Unreadable("a field name holds a line break and a bracket, which Rack 2 reads line by line")
    path: list[Key] = []
    pos = 0  # the name normalize_params is called with is name[pos:]
    end = len(name)
    while len(path) < limit:
        found = _NOT_BRACKET.search(name, pos) if name.startswith(("[", "]"), pos) else None
        if found is None and not (pos < end and name[pos] not in "[]"):  # no key: dropped, or an array's `[]`
            return [(*path, ANY)] if path and end - pos == 2 and name.startswith("[]", pos) else []
        start = found.start() if found else pos
        stop = _next_bracket(name, start)
        if name.startswith("]]", stop):
            after = _NOT_CLOSE.search(name, stop)
            at = after.start() if after else end
        else:
            at = stop + 1 if name.startswith("]", stop) else stop
        key = name[start:stop]
        if at == end:
            return [(*path, key)]
        if at == end - 1 and name[at] == "[":
            return [(*path, name[pos:])]
        path.append(key)
        if not name.startswith("[]", at):
            pos = at
            continue
        path.append(ANY)
        if at == end - 2:
            break
        child = _rack_array_tail(name, at)
        if child is not None:
            return [(*path, child)]
        pos = at + 2
    return [tuple(path)]


def rack3(name: str, limit: int) -> list[Path]:
    """Rack 3.1 _normalize_params: the top key runs to the first `[` after position 0 (so `[phone]` is a
    flat key), nested keys are `[k]` groups, `[]` is an array, anything else the rest as one key."""
    path: list[Key] = []
    pos = 0
    end = len(name)
    while len(path) < limit:
        if pos == 0:
            start = name.find("[", 1)
            key, at = (name[:start], start) if start >= 0 else (name, end)
        elif name.startswith("[]", pos):
            key, at = "[]", pos + 2
        elif name.startswith("[", pos) and (close := name.find("]", pos + 1)) >= 0:
            key, at = name[pos + 1 : close], close + 1
        else:
            key, at = name[pos:], end
        if not key:
            return []
        if at == end:
            return [(*path, ANY if key == "[]" and pos else key)]
        if at == end - 1 and name[at] == "[":
            return [(*path, name[pos:])]
        path.append(key)
        if not name.startswith("[]", at):
            pos = at
            continue
        path.append(ANY)
        if at == end - 2:
            break
        child = _rack_array_tail(name, at)
        if child is not None:
            return [(*path, child)]
        pos = at + 2
    return [tuple(path)]


def multer(name: str, limit: int) -> list[Path]:
    """append-field parsePath: `base`, then `[digits]`, `[key]` (no `]`), or a final `[]`; any other shape
    fails and the whole name becomes one flat key."""
    first = name.find("[")
    if first == 0:
        return [(name,)]
    if first < 0:
        return [(name,)]
    path: list[Key] = [name[:first]]
    pos = first
    while pos < len(name) and len(path) < limit:
        if name[pos] != "[":
            return [(name,)]
        if name.startswith("[]", pos):
            if pos + 2 != len(name):
                return [(name,)]
            path.append(ANY)
            break
        close = name.find("]", pos + 1)
        if close < 0:
            return [(name,)]
        key = name[pos + 1 : close]
        path.append(ANY if key.isascii() and key.isdigit() else key)
        pos = close + 1
    return [tuple(path)]


def _spring_path(name: str, limit: int) -> Path:
    """A Spring property path: keys split at `.` outside brackets and at balanced `[key]` groups."""
    path: list[Key] = []
    pos = 0
    end = len(name)
    while pos < end and len(path) < limit:
        opening = name.find("[", pos)
        stop = name.find(".", pos, opening if opening >= 0 else end)
        stop = stop if stop >= 0 else opening if opening >= 0 else end
        if stop > pos or stop == end or name[stop] == ".":
            path.append(name[pos:stop])  # an empty key between two dots counts, so the loop is bounded
        if stop == end:
            break
        if name[stop] == ".":
            pos = stop + 1
            continue
        close = _balanced_close(name, stop)
        if close < 0:
            path.append(name[stop + 1 : stop + 1 + WINDOW])
            break
        key = name[stop + 1 : close]
        if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
            key = key[1:-1]
        path.append(key)
        pos = close + 2 if name.startswith(".", close + 1) else close + 1
    return tuple(path)


def spring(name: str, limit: int) -> list[Path]:
    """Spring's WebDataBinder: `!phone` is the default value for phone, `_phone` its field marker, and a
    property path splits at `.` outside brackets and at `[key]` (quotes around a map key dropped)."""
    out = [_spring_path(name, limit)]
    if name[:1] in ("!", "_"):
        out.append(_spring_path(name[1:], limit))
    return out


def flat(name: str, limit: int) -> list[Path]:
    """Werkzeug, Django QueryDict, Go url.ParseQuery and servlet getParameter keep the name whole."""
    return [(name,)]


FAMILIES: dict[str, Reader] = {
    "qs_extended": qs_extended,
    "qs_flat": qs_flat,
    "php": php,
    "rack2": rack2,
    "rack3": rack3,
    "multer": multer,
    "spring": spring,
    "flat": flat,
}
