"""Hypothesis strategies for the security harness: hostile and strict requests carrying canary secrets.

A `Probe` is one request body (with its Content-Type and optional Content-Encoding) and the secrets it
carries. Every value the hostile strategies put in a body is a distinct secret, so any origin that reads
one under a protected name is caught, wherever the secret was placed. The hostile strategies combine the
five classes of issue 13 (multipart framing, Content-Disposition parameters, Content-Type parameters,
charsets, bracket names) with the old corpus of testkit/corpus.py; the strict ones generate only
the grammar the proxy promises to read exactly like every origin (docs/security.md).
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import strategies as st

FORM_CT = "application/x-www-form-urlencoded"
JSON_CT = "application/json"
MULTIPART_CT = "multipart/form-data"

# the config under test (tests/security/test_security_harness.py): form and multipart patterns, JSON pointers
FORM_PATTERNS = ("phone", "card*", "user[ssn]")
JSON_POINTERS = ("/phone", "/card/number", "/cards/*/number")
PROTECTED_NAMES = ("phone", "card", "cardNumber", "card_cvc", "user[ssn]")
PLAIN_NAMES = ("note", "email", "city", "a", "zip", "x_phone", "user")


@dataclass(frozen=True)
class Probe:
    kind: str  # "form", "multipart" or "json": which origin readers are expected to read it
    label: str  # the generator's probe-wide choices (content type, framing), for reports
    content_type: str | None
    body: bytes
    secrets: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()
    shapes: tuple[str, ...] = ()  # per secret: the shape of the name (or disposition) it was sent under

    def shape_of(self, secret_text: str) -> str:
        index = self.secrets.index(secret_text)
        return self.shapes[index] if index < len(self.shapes) else ""

    def request(self) -> bytes:
        """The raw HTTP/1.1 request sent to the proxy."""
        head = [b"POST /submit HTTP/1.1", b"Host: origin.example", b"Connection: close"]
        if self.content_type is not None:
            head.append(b"Content-Type: " + self.content_type.encode("latin-1"))
        head += [f"{k}: {v}".encode("latin-1") for k, v in self.headers]
        head.append(b"Content-Length: %d" % len(self.body))
        return b"\r\n".join(head) + b"\r\n\r\n" + self.body


def mostly(plain: str, hostile: tuple[str, ...], weight: int = 5) -> st.SearchStrategy[str]:
    """`plain` `weight` times in `weight + 1`, else one of `hostile`: a probe stays close enough to the
    grammar that the proxy forwards it, with one or two odd spots where parsers may disagree."""
    return st.one_of(*[st.just(plain)] * weight, st.sampled_from(hostile))


def secret(index: int) -> str:
    """A canary no transformation of the harness alters (letters and digits only) and no name contains."""
    return f"Zq{index:02d}Kw8secret"


def _case(name: str, mode: int) -> str:
    return [name, name.upper(), name.title(), name.swapcase(), name[:1].upper() + name[1:]][mode % 5]


def _percent(text: str, mask: int, brackets_only: bool) -> str:
    out = []
    for i, ch in enumerate(text):
        pick = ch in "[]." if brackets_only else bool(mask >> (i % 24) & 1)
        out.append("".join(f"%{b:02X}" for b in ch.encode()) if pick else ch)
    return "".join(out)


# --- class 5: qs/PHP/Rack bracket names --------------------------------------------------------------------
NAME_PREFIXES = ("", "", "", "[", "[]", "[x]", "%5B", "+", " ", ".", "]", "a[", "[[")
NAME_SUFFIXES = (
    "",
    "",
    "",
    "[]",
    "[0]",
    "[x]",
    "]",
    "]x",
    "[x]y",
    "x]",
    "[",
    "[][x]",
    "][",
    "[x",
    "%5D",
    "%5B%5D",
    "%5Bx%5D",
    ".",
    "+",
    "%00",
    "[]]",
    "[0][x]",
    "[__proto__]",
    "[a]b[c]",
)


@st.composite
def hostile_names(draw: st.DrawFn) -> tuple[str, str]:
    """A name some family may read as a protected one: affixes, case, percent-encoding, PHP mangling;
    (name, its shape: the affixes around `N`, the protected core, and the percent-encoding used)."""
    core = draw(st.sampled_from(PROTECTED_NAMES))
    if core == "user[ssn]":
        core = draw(
            st.sampled_from(
                (
                    "user[ssn]",
                    "user%5Bssn%5D",
                    "user[ssn",
                    "[user][ssn]",
                    "user.ssn",
                    "user[ ssn]",
                    "user[SSN]",
                )
            )
        )
    prefix, suffix = draw(st.sampled_from(NAME_PREFIXES)), draw(st.sampled_from(NAME_SUFFIXES))
    name = prefix + _case(core, draw(st.integers(0, 4))) + suffix
    encoding = draw(st.sampled_from(("none", "none", "brackets", "mask")))
    if encoding != "none":
        name = _percent(name, draw(st.integers(0, 2**24 - 1)), encoding == "brackets")
    core_shape = "N" if "[" not in core else core.replace("user", "N").replace("ssn", "s")
    return name, f"name {prefix}{core_shape}{suffix} pct={encoding}"


def plain_names(names: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(names).map(lambda n: (n, "plain name"))


FORM_CHARSETS = (
    "",
    "",
    "",
    "; charset=utf-8",
    '; charset="UTF-8"',
    "; charset=utf-7",
    "; charset=iso-8859-1",
    "; charset=utf-16le",
    "; charset=utf-8; charset=utf-7",
    '; charset="utf\\-8"',
)


@st.composite
def form_probes(draw: st.DrawFn) -> Probe:
    named = draw(
        st.lists(
            st.one_of(hostile_names(), plain_names(PLAIN_NAMES + PROTECTED_NAMES)), min_size=1, max_size=4
        )
    )
    names = [n for n, _ in named]
    pairs = [f"{name}={secret(i)}" for i, name in enumerate(names)]
    separator = draw(mostly("&", (";", "&&")))
    text = separator.join(pairs)
    charset = draw(mostly("", FORM_CHARSETS))
    body = text.encode("utf-16-le") if charset.endswith("utf-16le") and draw(st.booleans()) else text.encode()
    headers: tuple[tuple[str, str], ...] = ()
    if draw(st.integers(0, 9)) == 0:
        body, headers = gzip.compress(body, mtime=0), (("Content-Encoding", "gzip"),)
    secrets = tuple(secret(i) for i in range(len(names)))
    label = f"form sep={separator!r} ct={charset!r}{' gzip' if headers else ''}"
    return Probe("form", label, FORM_CT + charset, body, secrets, headers, tuple(t for _, t in named))


# --- classes 1-3: multipart framing, Content-Disposition and Content-Type parameters ------------------------
DISPOSITIONS = (
    'name="{n}"',
    "name={n}",
    "name*=utf-8''{n}",
    "NAME*=utf-8''{n}",
    "Name*=UTF-8''{n}",
    'name*0="{h}"; name*1="{t}"',
    "name*0={h}; name*1={t}",
    'name*00="{n}"',
    "name*0*=utf-8''{n}",
    "name*0*=utf-8''{h}; name*1*={t}",
    'name=""; name*0="{n}"',
    'name="a"; name*0="{h}"; name*1="{t}"',
    "name=\"x\"; name*=utf-8''{n}",
    'name ="{n}"',
    'name= "{n}"',
    'name = "{n}"',
    'name\t="{n}"',
    'NAME="{n}"',
    'name="a"; name="{n}"',
    'name="{n}"; name="a"',
    'name="a\\"; name={n}; x=\\""',
    'name="a\\\\"; name="{n}"',
    'name= "a; name={n}; x="',
    'name ="a; name="{n}"; x="',
    'name="a; name={n}"',
    "name='{n}'",
    'name="\\{n}"',
    'name="{n}\\"',
    'filename="f.txt"; name="{n}"',
    "name=\"{n}\"; filename*=utf-8''f.txt",
    'name="a"; filename="{n}"',
    "name=a; name*=utf-8''{n}",
    'name="{n}";',
    ';name="{n}"',
)
LINE_ENDS = ("\r\n", "\r\n", "\r\n", "\n", "\r")
BOUNDARY = "Bnd9"
OTHER = "Qx7"


@st.composite
def disposition(draw: st.DrawFn, name: str) -> tuple[str, str]:
    """A Content-Disposition value naming `name`; (value, its template)."""
    template = draw(mostly(DISPOSITIONS[0], DISPOSITIONS[1:], 2))
    cut = max(1, len(name) // 2)
    start = draw(mostly("form-data; ", ("form-data;", "FORM-DATA; ", "form-data ; ")))
    return start + template.format(n=name, h=name[:cut], t=name[cut:]), start + template


ODD_FRAMING = {  # the framing spots a probe may make odd (at most two per probe), and how
    "lead": ("\n", "\r", "\r\r\n", "\n\r\n"),  # what precedes a delimiter (CRLF in the grammar)
    "eol": ("\n", "\r"),  # line ends after a delimiter and in part headers
    "padding": (" ", "\t"),  # transport padding after a delimiter
    "close": ("\n", "\r"),  # what precedes the close delimiter
    "extra": ("Content-Type: text/plain; charset=utf-7", "Content-Type: text/plain"),
}


@st.composite
def multipart_body(draw: st.DrawFn, boundary: str, first: int) -> tuple[bytes, list[str], list[str]]:
    """Parts delimited by `boundary`, with hostile line endings and dispositions; (body, the shape of
    each part's name, the odd framing spots used)."""
    odd = draw(st.sets(st.sampled_from(sorted(ODD_FRAMING)), max_size=2))
    spots: list[str] = []

    def spot(kind: str, plain: str) -> str:
        if kind in odd and draw(st.booleans()):
            choice = draw(st.sampled_from(ODD_FRAMING[kind]))
            spots.append(f"{kind}={choice!r}")
            return choice
        return plain

    count = draw(st.integers(1, 3))
    out = ""
    shapes = []
    for i in range(count):
        lead = "" if i == 0 else spot("lead", "\r\n")
        eol = spot("eol", "\r\n")
        name, name_shape = draw(st.one_of(plain_names(PROTECTED_NAMES + PLAIN_NAMES), hostile_names()))
        value, template = draw(disposition(name.replace("%", "")))
        shapes.append(f"{name_shape}; disposition {template}")
        extra = spot("extra", "")
        extra = extra + eol if extra else ""
        padding = spot("padding", "")
        out += f"{lead}--{boundary}{padding}{eol}Content-Disposition: {value}{eol}{extra}{eol}"
        out += secret(first + i)
    out += spot("close", "\r\n") + f"--{boundary}--\r\n"
    return out.encode(), shapes, spots


CONTENT_TYPES = (
    "{m}; boundary={b}",
    "{m}; boundary={b}",
    '{m}; boundary="{b}"',
    '{m}; boundary="{e}"',
    "{m}; boundary={o}; boundary={b}",
    "{m}; boundary={b}; boundary={o}",
    '{m}; boundary="{o}\\"; boundary={b}"',
    '{m}; boundary="{o}\\\\"; boundary={b}',
    '{m}; x="a\\"; boundary={b}; y=\\""',
    "{m}; BOUNDARY={b}",
    "{m}; boundary ={b}",
    "{m}; boundary= {b}",
    "{m}; charset=utf-7; boundary={b}",
    "{m}; boundary={b}; charset=utf-16",
    "{m};boundary={b}",
    "{m}; boundary*={b}",
    "{m}; boundary*=utf-8''{b}",
    "{m}; boundary*0={b}",
)


@st.composite
def multipart_probes(draw: st.DrawFn) -> Probe:
    """A multipart body framed by one boundary, optionally hidden inside a part framed by another."""
    template = draw(mostly(CONTENT_TYPES[0], CONTENT_TYPES[2:], 3))
    b_first = draw(st.booleans())
    hidden, other = (BOUNDARY, OTHER) if b_first else (OTHER, BOUNDARY)
    escaped = hidden[:2] + "\\" + hidden[2:]  # quoted-string escape: unescaping readers get `hidden`
    content_type = template.format(m=MULTIPART_CT, b=hidden, o=other, e=escaped)
    inner, shapes, spots = draw(multipart_body(hidden, 0))
    used = len(shapes)
    nested = template != CONTENT_TYPES[0] and draw(st.booleans())
    if nested:  # the hidden framing sits inside a plain part framed by the other boundary
        outer_boundary = draw(st.sampled_from((other, escaped)))
        shapes.append("outer part")
        body = (
            f'--{outer_boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n'.encode()
            + inner
            + f'\r\n--{outer_boundary}\r\nContent-Disposition: form-data; name="b"\r\n\r\n{secret(used)}'
            f"\r\n--{outer_boundary}--\r\n".encode()
        )
        used += 1
    else:
        body = inner
    secrets = tuple(secret(i) for i in range(used))
    label = f"multipart ct={template!r}{' nested' if nested else ''} framing={','.join(spots) or 'crlf'}"
    return Probe("multipart", label, content_type, body, secrets, (), tuple(shapes))


# --- class 4: JSON charsets and keys -----------------------------------------------------------------------
def utf7_all(text: str) -> bytes:
    """Every character as a UTF-7 base64 run: no quote or backslash left for a UTF-8 reader to see."""
    return b"+" + base64.b64encode(text.encode("utf-16-be")).rstrip(b"=") + b"-"


JSON_KEYS = ("phone", "PHONE", "Phone", "\\u0070hone", "ph\\u006fne", "card", "cards", "Card", "note", "a")
JSON_CHARSETS = (
    "",
    "",
    "; charset=utf-8",
    "; charset=utf-7",
    "; charset=UTF-7",
    '; charset="utf-7"',
    "; charset=utf7",
    '; charset="utf\\-7"',
    "; charset=utf-8; charset=utf-7",
    "; charset=utf-7; charset=utf-8",
    "; charset=utf-16",
    "; charset=utf-16le",
    "; charset=iso-8859-1",
    "; charset=unicode-1-1-utf-7",
    "; charset=csUnicode11UTF7",
)


UTF7_CHARSETS = (
    "; charset=utf-7",
    '; charset="utf\\-7"',
    "; charset=utf-8; charset=utf-7",
    '; charset="utf-8"; charset=utf-7',
    "; charset=utf-8; CHARSET=UTF-7",
    "; charset=utf-8;charset=utf7",
    "; charset=utf-7; charset=utf-8",
    "; charset=unicode-1-1-utf-7",
)


@st.composite
def json_value(draw: st.DrawFn, key: str, index: int) -> str:
    plain = key.replace("\\u0070", "p").replace("\\u006f", "o").lower()
    if plain == "card":
        inner = draw(st.sampled_from(("number", "NUMBER", "Number", "\\u006eumber", "cvc")))
        return f'{{"{inner}": "{secret(index)}"}}'
    if plain == "cards":
        return f'[{{"number": "{secret(index)}"}}]'
    return f'"{secret(index)}"'


@st.composite
def json_probes(draw: st.DrawFn) -> Probe:
    keys = draw(st.lists(st.sampled_from(JSON_KEYS), min_size=1, max_size=3))
    members = [f'"{k}": {draw(json_value(k, i))}' for i, k in enumerate(keys)]
    used = len(keys)
    shape = draw(mostly("plain", ("utf7-smuggle", "utf-16", "utf-16-bom", "utf-8-bom", "utf-16le")))
    if shape == "utf7-smuggle":  # a UTF-8 reader sees one string member; a UTF-7 reader sees the members
        hidden = '", ' + ", ".join(members) + ', "z": "'
        body = b'{"a": "' + utf7_all(hidden) + b'"}'
    else:
        text = "{" + ", ".join(members) + "}"
        body = {
            "plain": text.encode(),
            "utf-16": text.encode("utf-16-be"),
            "utf-16-bom": text.encode("utf-16"),
            "utf-8-bom": b"\xef\xbb\xbf" + text.encode(),
            "utf-16le": text.encode("utf-16-le"),
        }[shape]
    if shape == "utf7-smuggle":  # only a reader that honours a UTF-7 charset sees the members
        charset = draw(st.sampled_from(UTF7_CHARSETS))
    else:
        charset = draw(mostly("", JSON_CHARSETS))
    secrets = tuple(secret(i) for i in range(used))
    return Probe("json", f"json {shape} ct={charset!r}", JSON_CT + charset, body, secrets, (), tuple(keys))


# --- the old corpus (testkit/corpus.py, run by tests/security/test_differentials.py) as seeds ------------
def _corpus() -> list[Probe]:
    from testkit import corpus as old

    probes = []
    for kind, cases in (
        ("form", old.FORM_CASES),
        ("multipart", old.MULTIPART_CASES),
        ("json", old.JSON_CASES),
    ):
        for case in cases:
            probes.append(
                Probe(
                    kind, f"corpus {kind} {case.id}", case.content_type, case.body, old.SECRETS, case.headers
                )
            )
    return probes


CORPUS_PROBES = _corpus()
GENERATED = {"form": form_probes(), "multipart": multipart_probes(), "json": json_probes()}
HOSTILE = {**GENERATED, "corpus": st.sampled_from(CORPUS_PROBES)}


# --- the strict grammar: what must be forwarded encrypted and read the same everywhere ---------------------
STRICT_PROTECTED = ("phone", "card", "cardNumber", "card_cvc")
STRICT_PLAIN = ("note", "email", "city", "zip", "given_name")
SAFE_TEXT = st.text(alphabet="abcXYZ019 -.@_~é", max_size=12)


@st.composite
def strict_fields(draw: st.DrawFn) -> list[tuple[str, str, bool]]:
    """Distinct plain names, each with a secret value (plus some text); (name, value, protected)."""
    names = draw(
        st.lists(st.sampled_from(STRICT_PROTECTED + STRICT_PLAIN), min_size=1, max_size=5, unique=True)
    )
    return [(n, secret(i) + draw(SAFE_TEXT), n in STRICT_PROTECTED) for i, n in enumerate(names)]


@st.composite
def strict_form_probes(draw: st.DrawFn) -> tuple[Probe, list[tuple[str, str, bool]]]:
    fields = draw(strict_fields())
    body = "&".join(f"{n}={quote(v, safe='')}" for n, v, _ in fields).encode()
    return Probe("form", "strict form", FORM_CT, body, tuple(secret(i) for i in range(len(fields)))), fields


@st.composite
def strict_multipart_probes(draw: st.DrawFn) -> tuple[Probe, list[tuple[str, str, bool]]]:
    fields = draw(strict_fields())
    boundary = "----fle" + draw(st.text(alphabet="abcdefXYZ0123456789", min_size=6, max_size=20))
    body = b""
    for name, value, _ in fields:
        file = draw(st.booleans())
        head = f'Content-Disposition: form-data; name="{name}"' + ('; filename="f.txt"' if file else "")
        head += "\r\nContent-Type: text/plain" if file else ""
        body += f"--{boundary}\r\n{head}\r\n\r\n".encode() + value.encode() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    ct = f"{MULTIPART_CT}; boundary={boundary}"
    return Probe(
        "multipart", "strict multipart", ct, body, tuple(secret(i) for i in range(len(fields)))
    ), fields


@st.composite
def strict_json_probes(draw: st.DrawFn) -> tuple[Probe, list[tuple[str, str, bool]]]:
    """A UTF-8 JSON object: plain members, and `card` as an object whose `number` is protected."""
    fields = draw(strict_fields())
    doc: dict[str, object] = {}
    out = []
    for name, value, _ in fields:
        if name == "card":
            doc["card"] = {"number": value, "exp": "12/30"}
            out += [("card/number", value, True), ("card/exp", "12/30", False)]
        else:
            doc[name] = value
            out.append((name, value, name == "phone"))
    body = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    return Probe("json", "strict json", JSON_CT, body, tuple(secret(i) for i in range(len(fields)))), out


STRICT = {"form": strict_form_probes(), "multipart": strict_multipart_probes(), "json": strict_json_probes()}


# --- known shapes: the minimal requests the harness found (docs/security.md), run every time ---
S = secret(0)
_MB = f"{MULTIPART_CT}; boundary=B"


def _part(disposition: str) -> str:
    return f"--B\r\nContent-Disposition: {disposition}\r\n\r\n{S}\r\n--B--\r\n"


def _hidden(lead: str, eol: str = "\r\n") -> str:
    return (
        f'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nx{lead}--B{eol}'
        f'Content-Disposition: form-data; name="phone"{eol}{eol}{S}\r\n--B--\r\n'
    )


KNOWN = [
    ("form", "leading-group", FORM_CT, f"[phone]={S}"),
    ("form", "leading-group-pct", FORM_CT, f"%5Bphone%5D={S}"),
    ("form", "text-after-group", FORM_CT, f"[phone]x={S}"),
    ("form", "leading-open-bracket", FORM_CT, f"[phone={S}"),
    ("form", "leading-close-bracket", FORM_CT, f"]phone={S}"),
    ("form", "leading-empty-group", FORM_CT, f"[]phone={S}"),
    ("form", "trailing-close-bracket", FORM_CT, f"phone]={S}"),
    ("form", "bracketed-array-suffix", FORM_CT, f"user[ssn][]={S}"),
    ("form", "bracketed-object-suffix", FORM_CT, f"user[ssn][x]={S}"),
    ("form", "bracketed-text-after", FORM_CT, f"user[ssn]x={S}"),
    ("form", "bracketed-open-after", FORM_CT, f"user[ssn][={S}"),
    ("form", "bracketed-leading-groups", FORM_CT, f"[user][ssn]={S}"),
    ("form", "bracketed-unclosed", FORM_CT, f"user[ssn={S}"),
    ("form", "php-leading-space", FORM_CT, f"+user[ssn][={S}"),
    ("form", "leading-bracket-index", FORM_CT, f"[phone[0]={S}"),
    ("form", "leading-bracket-wildcard", FORM_CT, f"[card[x]={S}"),
    ("form", "bracketed-pct-dot", FORM_CT, f"user%5Bssn%5D.={S}"),
    ("multipart", "bare-lf-before-delimiter", _MB, _hidden("\n")),
    ("multipart", "bare-cr-before-delimiter", _MB, _hidden("\r")),
    ("multipart", "bare-lf-framing-lf-headers", _MB, _hidden("\n", "\n")),
    (
        "multipart",
        "two-bare-lf-delimiters",
        _MB,
        f'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\n--B\r\n'
        f'Content-Disposition: form-data; name="b"\r\n\r\ny\n--B\r\n'
        f'Content-Disposition: form-data; name="phone"\r\n\r\n{S}\r\n--B--\r\n',
    ),
    (
        "multipart",
        "bare-cr-hides-upper-name-star",
        _MB,
        _hidden("\r").replace('name="phone"', "NAME*=utf-8''phone"),
    ),
    ("multipart", "name-inside-quoted-name", _MB, _part('form-data; name="a; name=phone"')),
    ("multipart", "empty-name-continuation", _MB, _part('form-data; name=""; name*0="phone"')),
    ("multipart", "name-and-continuations", _MB, _part('form-data; name="a"; name*0="ph"; name*1="one"')),
    ("multipart", "space-before-quote", _MB, _part('form-data; name= "a; name=phone; x="')),
    ("multipart", "space-before-equals", _MB, _part('form-data; name ="a; name=phone; x="')),
    ("multipart", "single-quoted-name", _MB, _part("form-data; name='phone'")),
    ("multipart", "rack-leading-open-bracket", _MB, _part('form-data; name="[phone"')),
    ("multipart", "rack-leading-close-bracket", _MB, _part('form-data; name="]phone"')),
    ("multipart", "rack-close-bracket-text", _MB, _part('form-data; name="phone]x"')),
    ("multipart", "bracketed-text-after", _MB, _part('form-data; name="user[ssn]x"')),
    ("multipart", "name-star-0", _MB, _part('form-data; name*0="phone"')),
    ("multipart", "upper-name-star", _MB, _part("form-data; NAME*=utf-8''phone")),
    ("multipart", "name-star-00", _MB, _part('form-data; name*00="phone"')),
    (
        "multipart",
        "boundary-space-before-equals",
        f"{MULTIPART_CT}; boundary =B",
        _part('form-data; name="phone"'),
    ),
    (
        "multipart",
        "boundary-twice",
        f"{MULTIPART_CT}; boundary=A; boundary=B",
        _part('form-data; name="phone"'),
    ),
    ("multipart", "boundary-escape", f'{MULTIPART_CT}; boundary="\\B"', _part('form-data; name="phone"')),
    (
        "json",
        "utf-7-second-charset",
        JSON_CT + "; charset=utf-8; charset=utf-7",
        '{"a": "' + utf7_all(f'", "phone": "{S}').decode() + '"}',
    ),
    ("json", "utf-7", JSON_CT + "; charset=utf-7", '{"a": "' + utf7_all(f'", "phone": "{S}').decode() + '"}'),
    (
        "json",
        "utf-7-escaped-charset",
        JSON_CT + '; charset="utf\\-7"',
        '{"a": "' + utf7_all(f'", "phone": "{S}').decode() + '"}',
    ),
    (  # Jetty's charset scanner ignores the backslash: it reads utf-16le, RFC 9110 reads no charset
        "json",
        "charset-after-escaped-quote",
        JSON_CT + '; x="a\\"; charset=utf-16le; y="',
        "".join(c + "\0" for c in f'{{"phone": "{S}"}}'),
    ),
]
KNOWN_PROBES = [Probe(kind, f"known {kind} {id}", ct, body.encode(), (S,)) for kind, id, ct, body in KNOWN]
