"""The name readings of fields/names.py, proven against the REAL origin parsers.

A corpus of hostile field names (the shapes of issue 13, plus names hypothesis builds from pieces: brackets
anywhere, dots, spaces, `%5B`, NUL, case, full-width letters, `!`/`_` prefixes, unclosed brackets) is sent
in one batch to each real parser: qs as Express 4's and Express 5's body-parser call it, append-field
(multer), PHP's parse_str (the $_POST code), Rack's parse_nested_query, Go's url.ParseQuery, Werkzeug and
Django's QueryDict. For every leaf path a parser stores `NAME=V` at, if it starts with the path that parser
reads a protected pattern as, the proxy must protect the name (or refuse the request). Names the proxy
protects that no parser reads as protected are counted, not asserted: encrypting too much is safe.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fields import name_readings, names_generic
from fields.errors import RequestRefused
from fields.forms import rewrite
from fields.limits import Limits
from fields.names_families import FAMILIES
from fields.patterns import parse_pattern
from profiles import EncryptionEntity, Profile, load_config_dir

# builds the Go origin reader once per module
pytestmark = pytest.mark.timeout(600)

HERE = Path(__file__).parents[1] / "origins" / "names"
EXAMPLE: Profile = (
    load_config_dir(Path(__file__).parents[2] / "profiles" / "examples")
    .only_config()
    .content_type_profiles[0]
    .profile
)  # type: ignore[assignment]
_KEY = EXAMPLE.entities[0].public_key
PROFILE = replace(
    EXAMPLE,
    entities=(
        EncryptionEntity(_KEY, "A", tuple(parse_pattern(p) for p in ("phone", "card*", "ssn_no"))),
        EncryptionEntity(_KEY, "B", tuple(map(parse_pattern, ("user[phone]", "acct[no]*", "items[0]")))),
    ),
)
# How the test reads each pattern with a real parser: the pattern text, or a wildcard's prefix.
PATTERNS = [(p.prefix, p.wildcard) for e in PROFILE.entities for p in e.patterns]

HAND_PICKED = [
    # qs: leading bracket group, also percent-encoded; text after a group; suffixes under user[phone]
    "[phone]",
    "%5Bphone%5D",
    "[PHONE]",
    "[phone][x]",
    "[user][phone]",
    "phone[a]b",
    "phone]x",
    "phone]",
    "user[phone][]",
    "user[phone][x]",
    "user[phone][0][y]",
    "user[phone]x",
    "user[phone",
    "[user[phone]]",
    "user[[phone]]",
    "user[phone]]",
    "[card",
    "[cardx]",
    "card[",
    "[]card",
    "x[phone]",
    "][phone]",
    "user][phone]",
    "[[phone]]",
    "[ phone]",
    " [phone]",
    "user.phone",
    "user[ phone]",
    "user[phone ]",
    # PHP: dots and spaces before the first bracket, unclosed groups, NUL, leading spaces
    "ssn.no",
    "ssn no",
    " ssn.no",
    "ssn[no",
    "ssn.no[x]",
    "phone[",
    "phone\x00x",
    " phone",
    "phone[a][b",
    "acct[no]",
    "acct[no5]",
    "acct[no][]",
    "acct.no",
    "acct[no",
    "ACCT[NO]X",
    # Rack: leading brackets and anything after a group
    "]phone",
    "[[phone",
    "phone[]x",
    "user[][phone]",
    "user[phone][][x]",
    # array slots: qs compacts `items[5]` to items.0 and appends `items[]` at 0
    "items[]",
    "items[5]",
    "items[00]",
    "items[0][x]",
    "items[][0]",
    "[items][0]",
    "items[1]",
    # Spring binder, generic readings
    "!phone",
    "_phone",
    "phone.x",
    "phone[0]",
    "PhOnE",
    "ｐｈｏｎｅ",
    "%70hone",
    "=?utf-8?q?phone?=",
    "［phone］",
    "user［phone］",
    "phone\t",
    "a[b]",
    "plain",
    "",
]
PIECES = [
    "phone",
    "PHONE",
    "card",
    "Card",
    "user",
    "ssn",
    "no",
    "acct",
    "x",
    "0",
    "[",
    "]",
    "[]",
    "[phone]",
    "[user]",
    "[no]",
    "user[phone]",
    "acct[no]",
    "items",
    "[0]",
    "[5]",
    ".",
    " ",
    "_",
    "!",
    "%",
    "%5B",
    "%5D",
    "%255B",
    "\x00",
    "ｐｈｏｎｅ",
    "［",
    "］",
    "'",
    "=",
    "\t",
    "[[",
    "]]",
    "=?utf-8?q?",
    "?=",
]
NAMES = st.lists(st.sampled_from(PIECES), min_size=1, max_size=7).map("".join)

Paths = list[list[str]]


def _run(command: list[str], payload: object, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        command, input=json.dumps(payload).encode(), capture_output=True, timeout=120, env=env, check=True
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.fail("golang-go is not installed (scripts/install.sh installs it)")
    tmp = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GOCACHE": str(tmp / "cache"), "GOPATH": str(tmp / "path"), "GO111MODULE": "off"}
    binary = tmp / "leaf_paths"
    command = ["go", "build", "-o", str(binary), str(HERE / "leaf_paths.go")]
    subprocess.run(command, env=env, check=True, timeout=300)
    return binary


def _werkzeug(bodies: list[str]) -> list[Paths]:
    from werkzeug.formparser import parse_form_data

    out = []
    for body in bodies:
        data = body.encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
        }
        form = parse_form_data(environ)[1]
        out.append([[key] for key, value in form.items(multi=True) if value == "V"])
    return out


def _django(bodies: list[str]) -> list[Paths]:
    from django.conf import settings as django_settings

    if not django_settings.configured:
        django_settings.configure(DEFAULT_CHARSET="utf-8")
    from django.http import QueryDict

    return [[[key] for key, values in QueryDict(body).lists() if "V" in values] for body in bodies]


def real_parsers(texts: list[str], go: Path) -> dict[str, list[Paths]]:
    """Every real parser's leaf paths for `TEXT=V`, one list per text, read in one batch per parser."""
    bodies = [quote(text, safe="") + "=V" for text in texts]
    node = _run(["node", str(HERE / "leaf_paths.js")], {"bodies": bodies, "names": texts})
    optional = {}
    if os.environ.get("FLE_RACK3_LIB"):  # a Rack 3 lib/ directory: this machine's ruby-rack is 2.2
        command = ["ruby", "-I", os.environ["FLE_RACK3_LIB"], str(HERE / "leaf_paths.rb")]
        optional["rack3 parse_nested_query"] = _run(command, bodies)["paths"]
    return optional | {
        "express4 qs extended": node["qs4_extended"],
        "express5 qs extended": node["qs5_extended"],
        "express5 qs default": node["qs5_flat"],
        "multer append-field": node["multer"],
        "php parse_str": _run(["php", str(HERE / "leaf_paths.php")], bodies)["paths"],
        "rack parse_nested_query": _run(["ruby", str(HERE / "leaf_paths.rb")], bodies)["paths"],
        "go url.ParseQuery": _run([str(go)], bodies)["paths"],
        "werkzeug": _werkzeug(bodies),
        "django QueryDict": _django(bodies),
    }


def _starts_with(path: list[str], want: list[str], wildcard: bool) -> bool:
    if not want or len(path) < len(want):
        return False
    head, last = [k.casefold() for k in path[: len(want)]], [k.casefold() for k in want]
    if wildcard:
        return head[:-1] == last[:-1] and head[-1].startswith(last[-1])
    return head == last


def _protects(name: str) -> bool:
    try:
        return PROFILE.selection.tag_for(name) is not None
    except RequestRefused:
        return True  # refused: nothing is forwarded


def check(corpus: list[str], go: Path) -> tuple[list[str], list[str]]:
    """(misses, false positives): names a real parser reads as protected that the proxy would forward, and
    names the proxy protects that no parser reads as protected."""
    texts = [p for p, _ in PATTERNS] + corpus
    found = real_parsers(texts, go)
    misses: list[str] = []
    read_as_protected: set[str] = set()
    for parser, per_text in found.items():
        wanted = [
            (want, wildcard)
            for wants, (_, wildcard) in zip(per_text, PATTERNS, strict=False)
            for want in wants
        ]
        for name, paths in zip(corpus, per_text[len(PATTERNS) :], strict=True):
            hit = any(_starts_with(path, want, wildcard) for path in paths for want, wildcard in wanted)
            if hit:
                read_as_protected.add(name)
                if not _protects(name):
                    misses.append(f"{parser} reads {name!r} as protected: {paths}")
    extra = [name for name in corpus if name not in read_as_protected and _protects(name)]
    return misses, extra


def test_the_real_parsers_read_the_patterns_and_the_issue_shapes(go_binary: Path) -> None:
    """The checker can fail: each real parser reads some hand-picked name as protected, as the issue found."""
    found = real_parsers(["[phone]", "user[phone][x]", "ssn.no", "phone]x", "phone"], go_binary)
    assert found["express4 qs extended"][0] == [["phone"]]
    assert found["express5 qs default"][0] == [["phone"]]
    assert found["express4 qs extended"][1] == [["user", "phone", "x"]]
    assert found["php parse_str"][2] == [["ssn_no"]]
    assert found["rack parse_nested_query"][3] == [["phone", "x"]]
    assert all(per_text[4] == [["phone"]] for per_text in found.values())


def test_hand_picked_names_are_protected_wherever_a_parser_reads_them_so(go_binary: Path) -> None:
    misses, extra = check(HAND_PICKED, go_binary)
    print(f"\n{len(extra)} of {len(HAND_PICKED)} hand-picked names protected though no parser reads them so")
    assert misses == []


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus=st.lists(NAMES, min_size=120, max_size=120, unique=True))
def test_generated_names_are_protected_wherever_a_parser_reads_them_so(
    go_binary: Path, corpus: list[str]
) -> None:
    misses, extra = check(corpus, go_binary)
    print(f"\n{len(extra)} of {len(corpus)} generated names protected though no parser reads them so")
    assert misses == []


@pytest.mark.parametrize(
    "name",
    ["[phone]", "%5Bphone%5D", "phone]x", "phone[a]b", "user[phone][]", "user[phone][x]", "!phone", "[card9"],
)
def test_issue_shapes_are_protected(name: str) -> None:
    assert PROFILE.selection.tag_for(name) is not None


def test_a_name_read_as_two_entities_fields_is_refused() -> None:
    """PHP reads `a.b` as `a_b` (entity A), Spring as a.b, which is how it reads `a[b]` (entity B)."""
    clash = replace(
        PROFILE,
        entities=(
            EncryptionEntity(_KEY, "A", (parse_pattern("a_b"),)),
            EncryptionEntity(_KEY, "B", (parse_pattern("a[b]"),)),
        ),
    )
    with pytest.raises(RequestRefused) as refused:
        clash.selection.tag_for("a.b")
    assert refused.value.reason == "MalformedInputClientError"
    assert "a.b" not in refused.value.detail


def test_a_name_with_a_line_break_and_a_bracket_is_refused() -> None:
    with pytest.raises(RequestRefused) as refused:
        PROFILE.selection.tag_for("x\n[][phone]")
    assert refused.value.reason == "MalformedInputClientError"


def test_a_value_holding_a_bracket_equals_is_refused_because_qs_splits_there() -> None:
    # qs splits `[card=x]=4111` at the first `]=`, so it reads card=x -> 4111 where we read `[card`.
    with pytest.raises(RequestRefused):
        rewrite(b"%5Bcard=x%5D=4111", PROFILE, lambda value, entity: b"c", Limits())


PERCENT_PIECES = ["%", "=", "a", "5", "B", "e2", "82", "\n", " ", "é", "3D", "%0A"]


@given(st.lists(st.sampled_from(PERCENT_PIECES)).map("".join))
def test_the_fast_percent_decoding_is_unquote(text: str) -> None:
    assert names_generic.percent_decoded(text) == unquote(text, errors="replace")


@given(st.text(alphabet=st.sampled_from("abZ09-_!?~'=%é\t\nｐ"), min_size=1))
def test_the_plain_name_shortcut_is_what_every_reader_returns(name: str) -> None:
    if name_readings._STRUCTURE.search(name) is None and not name.startswith(("!", "_")):
        slow = {(i, path) for i, read in enumerate(FAMILIES.values()) for path in read(name, 66) if path}
        assert slow == set(name_readings._plain(name))


SIMPLE_KEYS = st.sampled_from(["0", "1", "01", "12", "007", "100", "a", "b-c", "x_y", "phone"])


@given(st.sampled_from(["user", "a", "0", "x-y", "a_b"]), st.lists(SIMPLE_KEYS, max_size=5), st.booleans())
def test_the_simple_bracket_shortcut_is_what_every_reader_returns(
    base: str, keys: list[str], push: bool
) -> None:
    name = base + "".join(f"[{key}]" for key in keys) + ("[]" if push else "")
    fast = name_readings.read_simple(name, 66)
    assert (fast is None) == (not keys and not push)
    if fast is None:
        return
    slow = {(i, path) for i, read in enumerate(FAMILIES.values()) for path in read(name, 66) if path}
    assert set(fast) == slow


def test_long_hostile_names_are_read_to_the_end() -> None:
    """Each reader is one pass that stops after a pattern's depth; these took seconds with the old regex."""
    assert PROFILE.selection.tag_for("[" * 200_000) is None
    assert PROFILE.selection.tag_for("phone" + "[x]" * 100_000) is not None
    assert PROFILE.selection.tag_for("user[" + "[" * 100_000 + "phone") is not None  # Rack 2: user.phone
    assert PROFILE.selection.tag_for("x" * 100_000 + "[phone]") is None
    with pytest.raises(RequestRefused):
        PROFILE.selection.tag_for("=?x?q?" * 50_000)
