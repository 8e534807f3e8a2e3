"""The key-reading generator of issue 24: JSON members and form/multipart names that an application's
accessors (lodash get/set/merge, Object.assign and spread, Laravel's data_get/Arr::get/Arr::undot) read as
a protected path although the key the client sent is not that path.

Enumerated, not random, so a long run covers the whole space once: for each protected path of the
harness config (tests/differential_strategies.py: `/phone`, `/card/number`, `/cards/*/number`; the form
patterns `phone`, `card*`, `user[ssn]`), every grouping of its keys into members, each group joined as
one key by one of the accessor syntaxes (`a.b`, `a[b]`, `a['b']`, `a["b"]`, `a]b`, an escaped dot, ...),
inside a prototype wrapper or not (`{"__proto__": ...}`, `{"constructor": {"prototype": ...}}`, a
`__proto__.` key prefix, ...), in three letter cases, with and without the real nested value beside it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from itertools import product

from hypothesis import strategies as st

from tests.differential_strategies import FORM_CT, JSON_CT, MULTIPART_CT, Probe, secret

# the paths the key-reading origins read (tests/origins/key_readings.*), as keys
READS = (("phone",), ("card", "number"), ("cards", "0", "number"), ("user", "ssn"))
JSON_TARGETS = (("phone",), ("card", "number"), ("cards", "0", "number"))
FORM_TARGETS = (("phone",), ("user", "ssn"), ("card", "number"))

Joiner = Callable[[tuple[str, ...]], str]


def _lodash_quoted(quote: str) -> Joiner:
    return lambda keys: keys[0] + "".join(f"[{quote}{k}{quote}]" for k in keys[1:])


JOINERS: dict[str, Joiner] = {
    "dot": ".".join,
    "brackets": lambda keys: keys[0] + "".join(f"[{k}]" for k in keys[1:]),
    "single-quoted": _lodash_quoted("'"),
    "double-quoted": _lodash_quoted('"'),
    "close-bracket": "]".join,  # lodash skips a lone `]` between keys
    "dot-then-brackets": lambda keys: ".".join(keys[:2]) + "".join(f"[{k}]" for k in keys[2:]),
    "double-dot": "..".join,  # an empty key between: read by nobody as the path (a control)
}
ESCAPED_DOT = "\u2024"  # stands for a dot the JSON text writes as \u002e (replaced after json.dumps)


def groupings(keys: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], ...]]:
    """Every split of `keys` into consecutive non-empty groups (2^(n-1) of them)."""
    for cuts in product((False, True), repeat=len(keys) - 1):
        groups: list[tuple[str, ...]] = []
        start = 0
        for i, cut in enumerate(cuts, 1):
            if cut:
                groups.append(keys[start:i])
                start = i
        groups.append(keys[start:])
        yield tuple(groups)


def member_paths(keys: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(label, member keys) for every grouping of `keys` and every joiner of its multi-key groups."""
    for grouping in groupings(keys):
        if all(len(group) == 1 for group in grouping):
            yield "separate", tuple(group[0] for group in grouping)
            continue
        for name, join in (*JOINERS.items(), ("escaped-dot", ESCAPED_DOT.join)):
            yield name, tuple(join(group) if len(group) > 1 else group[0] for group in grouping)


WRAPPERS = ("none", "__proto__", "constructor.prototype", "__proto__.key", "constructor.prototype.key",
            "escaped __proto__", "__proto__ twice", "inner __proto__")  # fmt: skip


def _wrap(wrapper: str, path: tuple[str, ...]) -> tuple[str, ...]:
    """The member keys with a prototype wrapper: as keys of their own, or as a dotted prefix."""
    if wrapper == "none":
        return path
    if wrapper in ("__proto__", "escaped __proto__"):
        return ("__proto__", *path)
    if wrapper == "__proto__ twice":
        return ("__proto__", "__proto__", *path)
    if wrapper == "constructor.prototype":
        return ("constructor", "prototype", *path)
    if wrapper == "__proto__.key":
        return ("__proto__." + path[0], *path[1:])
    if wrapper == "constructor.prototype.key":
        return ("constructor.prototype." + path[0], *path[1:])
    # inner: the prototype key one level down, under the first key
    return (path[0], "__proto__", *path[1:]) if len(path) > 1 else ("__proto__", *path)


def _case(key: str, mode: int) -> str:
    if "proto" in key or "constructor" in key:
        return key  # JavaScript's prototype keys are case-sensitive: only the protected keys change case
    return (key, key.upper(), key.title())[mode]


def _nest(keys: tuple[str, ...], value: object) -> dict[str, object]:
    for key in reversed(keys):
        value = {key: value}
    return value  # type: ignore[return-value]


def _json_text(doc: object, wrapper: str) -> str:
    text = json.dumps(doc, ensure_ascii=False).replace(ESCAPED_DOT, "\\u002e")
    if wrapper == "escaped __proto__":
        text = text.replace('"__proto__"', '"\\u005f_proto__"')
    return text


def json_probes() -> list[Probe]:
    """Every JSON key-reading probe: a member read as a target path, perhaps beside the real value."""
    out = []
    for target, wrapper, case, real in product(JSON_TARGETS, WRAPPERS, range(3), (False, True)):
        for label, path in member_paths(target):
            keys = tuple(_case(k, case) for k in _wrap(wrapper, path))
            doc: dict[str, object] = {"note": "x"}
            doc.update(_nest(keys, secret(1)))
            if real:  # the real nested value (encrypted by the proxy) beside the member; merged in
                _merge(doc, _nest(target, secret(2)))
            text = _json_text(doc, wrapper)
            secrets = (secret(1), secret(2)) if real else (secret(1),)
            name = f"json {'/'.join(target)} {label} {wrapper} case{case} real={real}"
            out.append(Probe("json", name, JSON_CT, text.encode(), secrets))
    return out


def _merge(doc: dict[str, object], other: dict[str, object]) -> None:
    for key, value in other.items():
        mine = doc.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            _merge(mine, value)
        elif key not in doc:
            doc[key] = value


FORM_WRAPPERS = {
    "none": "{}",
    "__proto__": "__proto__[{}]",
    "[__proto__]": "[__proto__][{}]",
    "constructor.prototype": "constructor[prototype][{}]",
    "__proto__.": "__proto__.{}",
    "__proto__ twice": "__proto__[__proto__][{}]",
    "%5F": "%5F%5Fproto%5F%5F[{}]",
}


def form_names(target: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(label, field name): the target as brackets or dots, a prototype key before it or inside it."""
    shapes = {"brackets": JOINERS["brackets"](target), "dot": ".".join(target)}
    if len(target) > 1:
        shapes["inner __proto__"] = f"{target[0]}[__proto__]" + "".join(f"[{k}]" for k in target[1:])
        shapes["inner constructor"] = f"{target[0]}[constructor][prototype]" + "".join(
            f"[{k}]" for k in target[1:]
        )
    for (shape, name), (wrapper, form) in product(shapes.items(), FORM_WRAPPERS.items()):
        first, bracket, rest = name.partition("[")
        wrapped = (
            form.format(first) + (bracket + rest if bracket else "") if "[" in form else form.format(name)
        )
        yield f"{shape} {wrapper}", wrapped


def multipart_body(name: str, value: str) -> bytes:
    """A multipart/form-data body (boundary KB): a plain field, then `name` holding `value`."""
    note = 'Content-Disposition: form-data; name="note"\r\n\r\nx'
    part = f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'
    return f"--KB\r\n{note}\r\n--KB\r\n{part}\r\n--KB--\r\n".encode()


def form_probes() -> list[Probe]:
    """Every form and multipart key-reading probe (the name percent-encoded only where a form decodes it)."""
    out = []
    for target in FORM_TARGETS:
        for label, name in form_names(target):
            multipart_name = name.replace("%5F", "_")
            form = f"note=x&{name}={secret(1)}".encode()
            out.append(Probe("form", f"form {label} {name}", FORM_CT, form, (secret(1),)))
            body = multipart_body(multipart_name, secret(1))
            tag = f"multipart {label} {multipart_name}"
            out.append(Probe("multipart", tag, f"{MULTIPART_CT}; boundary=KB", body, (secret(1),)))
    return out


def all_probes() -> list[Probe]:
    return json_probes() + form_probes()


def sample(count: int, seed: int) -> list[Probe]:
    """`count` probes drawn with `seed` (every probe when count is larger than the space)."""
    probes = all_probes()
    if count >= len(probes):
        return probes
    return random.Random(seed).sample(probes, count)


# Random keys built from the pieces accessors split at, for a hypothesis run beyond the enumeration
KEY_PIECES = (
    "card", "number", "phone", "cards", "0", "1", "CARD", "Number", "Phone", ".", "..", "[", "]", "[]", "['",
    "']", '["', '"]', "\\", "[0]", "[number]", ".number", "__proto__", "constructor", "prototype", "x",
    ESCAPED_DOT, "-1", "0.5", " ",
)  # fmt: skip
RANDOM_KEYS = st.lists(st.sampled_from(KEY_PIECES), min_size=1, max_size=5).map("".join)


@st.composite
def random_json_probes(draw: st.DrawFn) -> Probe:
    """A document of one to three members, each a chain of one to three random keys over a secret."""
    doc: dict[str, object] = {}
    secrets = []
    for index in range(draw(st.integers(1, 3))):
        keys = tuple(draw(st.lists(RANDOM_KEYS, min_size=1, max_size=3)))
        secrets.append(secret(index + 1))
        _merge(doc, _nest(keys, secrets[-1]))
    text = _json_text(doc, "escaped __proto__" if draw(st.booleans()) else "none")
    return Probe("json", f"random json {text[:200]!r}", JSON_CT, text.encode(), tuple(secrets))


@st.composite
def random_form_probes(draw: st.DrawFn) -> Probe:
    """A form or multipart body with one field under a random name (brackets, dots, prototype keys)."""
    pieces = st.sampled_from((*KEY_PIECES[:-3], "user", "ssn", "[user]", "[ssn]", "[phone]", "%5F"))
    name = draw(st.lists(pieces, min_size=1, max_size=6).map("".join)).replace('"', "")
    if draw(st.booleans()):
        body = f"note=x&{name.replace('&', '').replace('=', '')}={secret(1)}".encode()
        return Probe("form", f"random form {name!r}", FORM_CT, body, (secret(1),))
    name = name.replace("\\", "").replace("%5F", "_")
    return Probe("multipart", f"random multipart {name!r}", f"{MULTIPART_CT}; boundary=KB",
                 multipart_body(name, secret(1)), (secret(1),))  # fmt: skip
