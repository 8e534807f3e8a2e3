"""Every reader of request bytes runs in linear time: pathological inputs at size N and 8N (issue 13).

For each codec and reader that touches request bytes (forms, JSON, multipart whole and fed in small
chunks, the field-name readings, Content-Type / Content-Disposition parameters, gzip-inflated bodies)
a set of generators builds the inputs that make backtracking or rescanning code quadratic: runs of
quotes, backslashes, brackets, whitespace, `%`, near-miss delimiters, many keys or parts, long names,
nesting just under the limit. Each is timed in CPU seconds (`time.process_time`, the least of a few
runs) at a size N picked so that one call costs a few milliseconds, and at 8N. Linear code takes about
8 times as long; quadratic code 64 times. The ratio must stay under `MAX_RATIO`. A refusal counts: the
time is the time until the codec raises.

This is the one timed unit test the project allows (docs/testing.md): ratios, not absolute speeds,
except for the three freezes reported in issue 13, which must now finish far within a second of CPU.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from edge_proxy import Limits, RequestRefused
from edge_proxy.pipeline.bodies import rewrite_body
from edge_proxy.pipeline.body import Coding, decode
from fields import forms, json_body, multipart, names
from fields.names_families import Unreadable
from profiles.model import BodyFormat
from profiles.select import Action, Decision
from tests.bodies_helpers import profile, stand_in_encrypt

MAX_RATIO = 20.0  # linear: ~8; quadratic: ~64
TARGET_SECONDS = 0.003  # N grows until one call at N costs this much CPU
MAX_SIZE = 400_000
REPEATS = 3

FIELDS = profile("phone")
POINTERS = profile("/card/number", "/items/*/secret")
BIG = Limits(max_body_bytes=64 * 1024 * 1024, max_field_bytes=8 * 1024 * 1024, max_encrypted_fields=10)
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
BOUNDARY = "B0undary"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"

Thunk = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Case:
    """`make(n, salt)` returns a call whose cost should grow linearly with n; `max_n` bounds n."""

    id: str
    make: Callable[[int, int], Thunk]
    max_n: int = MAX_SIZE


def _encrypt3(value: bytes, entity: object, suite: int) -> bytes:
    return stand_in_encrypt(value, entity)  # type: ignore[arg-type]


# --- the codecs, called as the proxy calls them -------------------------------------------------------


def form(body: bytes) -> Thunk:
    return lambda: forms.rewrite(body, FIELDS, stand_in_encrypt, BIG)


def jsonb(text: str) -> Thunk:
    body = text.encode("utf-8")
    return lambda: json_body.rewrite(body, POINTERS, stand_in_encrypt, BIG)


def whole(body: bytes, content_type: str = MULTIPART_TYPE) -> Thunk:
    return lambda: multipart.rewrite(body, content_type, FIELDS, stand_in_encrypt, BIG)


def chunked(body: bytes, size: int = 61) -> Thunk:
    """The streaming rewriter fed `size`-byte chunks, as multipart_stream feeds it from the socket."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]

    def run() -> bytes:
        rewriter = multipart.MultipartRewriter(MULTIPART_TYPE, FIELDS, stand_in_encrypt, BIG)
        out = [rewriter.feed(piece) for piece in pieces]
        return b"".join(out) + rewriter.close()

    return run


def through_bodies(body_format: BodyFormat, body: bytes, content_type: str) -> Thunk:
    prof = POINTERS if body_format is BodyFormat.JSON else FIELDS
    decision = Decision(Action.ENCRYPT, prof, body_format)
    return lambda: rewrite_body(decision, body, content_type, _encrypt3, BIG)  # type: ignore[arg-type]


def gzipped(make_plain: Callable[[], bytes], rewrite: Callable[[bytes], object]) -> Thunk:
    """The body sent gzip-compressed: inflate (with the limit) and rewrite, as app._rewrite does."""
    compressed = gzip.compress(make_plain(), compresslevel=9, mtime=0)
    return lambda: rewrite(decode(compressed, Coding.GZIP, BIG.max_body_bytes))


def part(name: bytes, content: bytes = b"v", extra: bytes = b"") -> bytes:
    return (
        b"--"
        + BOUNDARY.encode()
        + b'\r\nContent-Disposition: form-data; name="'
        + name
        + b'"'
        + extra
        + (b"\r\n\r\n" + content + b"\r\n")
    )


def parts(*chunks: bytes) -> bytes:
    return b"".join(chunks) + b"--" + BOUNDARY.encode() + b"--\r\n"


# --- the pathological inputs ---------------------------------------------------------------------------

CASES = [
    # JSON: the old string regex restarted at every quote of an unterminated run
    Case("json/quote-backslash-unterminated", lambda n, s: jsonb('"\\' * n)),
    Case("json/quote-run", lambda n, s: jsonb('"' * n)),
    Case("json/escaped-quotes-in-string", lambda n, s: jsonb('["' + '\\"' * n + '"]')),
    Case("json/backslashes-in-string", lambda n, s: jsonb('["' + "\\\\" * n + '"]')),
    Case("json/unterminated-after-array", lambda n, s: jsonb('["a",' + '"\\"' * n)),
    Case("json/empty-arrays", lambda n, s: jsonb("[" + "[]," * n + "[]]")),
    Case("json/open-brackets", lambda n, s: jsonb("[" * n)),
    Case(
        "json/deep-but-allowed", lambda n, s: jsonb("[" + ",".join(["[" * 63 + "]" * 63] * n) + "]"), 20_000
    ),
    Case("json/many-keys", lambda n, s: jsonb("{" + ",".join(f'"k{i}":{i}' for i in range(n)) + "}")),
    Case(
        "json/many-keys-under-a-selected-path",
        lambda n, s: jsonb('{"card":{' + ",".join(f'"k{i}":"v"' for i in range(n)) + ',"number":"4111"}}'),
    ),
    Case(
        "json/many-items-under-a-wildcard",
        lambda n, s: jsonb('{"items":[' + ",".join('{"a":[1,{"b":2}]}' for _ in range(n)) + "]}"),
        50_000,
    ),
    # key readings (issue 24): keys read as lodash/Laravel paths at a path a pattern may still select
    Case("json/long-dotted-key", lambda n, s: jsonb('{"' + "card." * n + 'number":1}')),
    Case("json/quoted-bracket-key", lambda n, s: jsonb('{"card' + '[\\"[' * n + 'number":1}')),
    Case("json/bracket-backslash-key", lambda n, s: jsonb('{"card' + "['\\\\" * n + '":1}')),
    Case(
        "json/many-dotted-keys", lambda n, s: jsonb("{" + ",".join(f'"card.k{i}":1' for i in range(n)) + "}")
    ),
    Case(
        "json/prototype-hint-many-keys",
        lambda n, s: jsonb("{" + ",".join(f'"\\u0070{i}":1' for i in range(n)) + "}"),
    ),
    Case("names/lodash-quoted-run", lambda n, s: lambda: names.readings("a." + '["' * n), 20_000),
    Case("names/dotted-run", lambda n, s: lambda: names.readings("phone" + "." * n), 20_000),
    Case("json/whitespace-run", lambda n, s: jsonb('{"card":' + " " * n + '{"number":"1"}}')),
    Case("json/long-number-selected", lambda n, s: jsonb('{"card":{"number":1' + "0" * n + "}}")),
    Case(
        "json/duplicate-key-at-the-end",
        lambda n, s: jsonb("{" + ",".join(f'"k{i}":0' for i in range(n)) + ',"k0":1}'),
    ),
    Case("json/gzip-quote-backslash", lambda n, s: gzipped(lambda: b'"\\' * n, jsonb_bytes)),
    # forms
    Case("form/percent-run", lambda n, s: form(b"a=" + b"%" * n)),
    Case("form/near-miss-escapes", lambda n, s: form(b"a=" + b"%2" * n)),
    Case("form/many-fields", lambda n, s: form(b"&".join(b"f%d_%d=v" % (s, i) for i in range(n)))),
    Case("form/long-protected-value", lambda n, s: form(b"phone=" + b"%41" * n)),
    Case("form/semicolon-at-the-end", lambda n, s: form(b"a=" + b"b" * n + b";")),
    Case("form/bracket-pairs-name", lambda n, s: form(b"[]" * n + b"x=1"), 20_000),
    Case("form/open-brackets-name", lambda n, s: form(b"[" * n + b"=1")),
    Case("form/percent-encoded-name", lambda n, s: form(b"%25" * n + b"=1")),
    Case(
        "form/gzip-bracket-pairs-name", lambda n, s: gzipped(lambda: b"[]" * n + b"x=1", form_bytes), 20_000
    ),
    # the field-name readings
    Case("names/bracket-pairs", lambda n, s: lambda: names.readings("[]" * n + "x"), 20_000),
    Case("names/bracket-pairs-then-open", lambda n, s: lambda: names.readings("[]" * n + "["), 20_000),
    Case("names/open-brackets", lambda n, s: lambda: names.readings("[" * n)),
    Case("names/close-brackets", lambda n, s: lambda: names.readings("]" * n)),
    Case("names/percent-run", lambda n, s: lambda: names.readings("%" * n)),
    Case("names/encoded-words", lambda n, s: lambda: names.readings("=?utf-8?q?a?=" * n)),
    Case("names/dots-and-spaces", lambda n, s: lambda: names.readings(". " * n + "[x]")),
    Case(
        "names/entity_for-bracket-pairs",
        lambda n, s: lambda: FIELDS.selection.tag_for("[]" * n + "x"),
        20_000,
    ),
    # multipart, whole body and fed in small chunks
    Case(
        "multipart/many-parts", lambda n, s: whole(parts(*[part(b"f%d_%d" % (s, i)) for i in range(n)])), 990
    ),
    Case(
        "multipart-chunked/many-parts",
        lambda n, s: chunked(parts(*[part(b"f%d_%d" % (s, i)) for i in range(n)])),
        990,
    ),
    Case(
        "multipart/near-miss-delimiters",
        lambda n, s: whole(parts(part(b"a", b"\r\n--B0undar" * n), part(b"phone", b"\r\n--B0undar" * 9))),
    ),
    Case(
        "multipart-chunked/near-miss-delimiters",
        lambda n, s: chunked(parts(part(b"a", b"\r\n--B0undar" * n))),
    ),
    Case(
        "multipart/header-whitespace-run",
        lambda n, s: whole(parts(part(b"a", extra=b" " * n + b"x"))),
        15_000,  # 8n within one part's header limit (multipart.MAX_HEAD_BYTES)
    ),
    Case(
        "multipart-chunked/header-whitespace-run",
        lambda n, s: chunked(parts(part(b"a", extra=b" " * n + b"x"))),
        15_000,
    ),
    Case("multipart-chunked/long-header", lambda n, s: chunked(parts(part(b"a" * n))), 15_000),
    Case("multipart/long-name-bracket-pairs", lambda n, s: whole(parts(part(b"[]" * n + b"x"))), 7_500),
    Case("multipart/long-quoted-name", lambda n, s: whole(parts(part(b"a" * n))), 15_000),
    Case(
        "multipart/gzip-many-parts", lambda n, s: gzipped(lambda: parts(*[part(b"f")] * n), whole_bytes), 990
    ),
    # Content-Type and Content-Disposition parameters (salted: bodies caches parsed Content-Types)
    Case(
        "content-type/semicolons-in-quotes",
        lambda n, s: through_bodies(BodyFormat.URL_ENCODED, b"a=1", f'{FORM_TYPE}; x="{";" * n}"; s={s}'),
        8_000,
    ),
    Case(
        "content-type/backslashes-in-quotes",
        lambda n, s: through_bodies(BodyFormat.JSON, b"{}", f'{JSON_TYPE}; x="{chr(92) * 2 * n}"; s={s}'),
        8_000,
    ),
    Case(
        "content-type/many-parameters",
        lambda n, s: through_bodies(
            BodyFormat.URL_ENCODED, b"a=1", FORM_TYPE + "".join(f"; p{i}=v" for i in range(n)) + f"; s={s}"
        ),
        2_000,
    ),
    Case(
        "content-type/whitespace-runs",
        lambda n, s: through_bodies(
            BodyFormat.JSON, b"{}", f"{JSON_TYPE};{' ' * n}charset{' ' * n}=utf-8; s={s}"
        ),
        8_000,
    ),
    Case(
        "boundary/semicolons-in-quotes",
        lambda n, s: lambda: multipart.boundary_of(f'{MULTIPART_TYPE}; x="{";" * n}"'),
        8_000,
    ),
    Case(
        "boundary/quotes-run",
        lambda n, s: lambda: multipart.boundary_of(MULTIPART_TYPE + '; x="' + '\\"' * n),
        8_000,
    ),
    Case(
        "boundary/many-parameters",
        lambda n, s: (
            lambda: multipart.boundary_of(
                MULTIPART_TYPE + "".join(f"; p{i}=v" for i in range(n)) + f"; s={s}"
            )
        ),
        2_000,
    ),
    Case(
        "content-disposition/many-parameters",
        lambda n, s: whole(parts(part(b"a", extra=b"".join(b"; p%d=v" % i for i in range(n))))),
        1_500,
    ),
    Case(
        "content-disposition/semicolons-in-quotes",
        lambda n, s: whole(parts(part(b"a", extra=b'; x="' + b";" * n + b'"'))),
        2_000,
    ),
]


def jsonb_bytes(body: bytes) -> object:
    return json_body.rewrite(body, POINTERS, stand_in_encrypt, BIG)


def form_bytes(body: bytes) -> object:
    return forms.rewrite(body, FIELDS, stand_in_encrypt, BIG)


def whole_bytes(body: bytes) -> object:
    return multipart.rewrite(body, MULTIPART_TYPE, FIELDS, stand_in_encrypt, BIG)


_salt = iter(range(10**9))


def cpu(case: Case, n: int) -> float:
    """CPU seconds of one call at size n (its input built beforehand); a refusal ends the call."""
    thunk = case.make(n, next(_salt))
    gc.disable()  # a full collection costs what the whole test process holds, not what the codec does
    try:
        started = time.process_time()
        with contextlib.suppress(RequestRefused, Unreadable):  # a refusal is timed like an answer
            thunk()
        return time.process_time() - started
    finally:
        gc.enable()


def least(case: Case, n: int, repeats: int = REPEATS, within: tuple[float, float] | None = None) -> float:
    """The least of `repeats` timings; stops early once outside `within` (low, high): below `low` the
    answer is clear, and above `high` (many times the limit) further runs will not change it."""
    best = float("inf")
    for _ in range(repeats):
        best = min(best, cpu(case, n))
        if within is not None and not within[0] <= best <= within[1]:
            break
    return best


def size_for(case: Case) -> int:
    """The smallest n (doubling from 16) whose call costs TARGET_SECONDS, at most case.max_n // 8."""
    n = 16
    while n * 2 <= case.max_n // 8 and cpu(case, n) < TARGET_SECONDS:
        n *= 2
    return n


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scales_linearly(case: Case) -> None:
    n = size_for(case)
    small = least(case, n)
    large = least(case, 8 * n, within=(MAX_RATIO * small * 0.5, MAX_RATIO * small * 3))
    ratio = large / max(small, 1e-6)
    assert ratio < MAX_RATIO, (
        f"{case.id}: {small * 1e3:.2f} ms at n={n}, {large * 1e3:.1f} ms at 8n ({ratio:.0f}x)"
    )


# --- the three freezes of issue 13, with the inputs that caused them ------------------------------------


def _timed_in_child(fn: Callable[[], object], conn: object) -> None:
    started = time.process_time()
    with contextlib.suppress(RequestRefused):
        fn()
    conn.send(time.process_time() - started)  # type: ignore[attr-defined]


def cpu_in_child(fn: Callable[[], object], limit: float) -> float:
    """CPU seconds of `fn` in a forked child, killed after `limit` * 5 wall seconds (a freeze fails)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_timed_in_child, args=(fn, send))
    child.start()
    try:
        if not receive.poll(limit * 5):
            return float("inf")
        return float(receive.recv())
    finally:
        child.kill()
        child.join()


def test_freeze_json_100kb_of_quote_backslash() -> None:
    """A 100 KB JSON body of `"\\` pairs: ~40 s of CPU before the fix."""
    body = b'"\\' * 50_000
    assert cpu_in_child(jsonb(body.decode()), 1.0) < 0.5


def test_freeze_json_small_gzip_body() -> None:
    """77 bytes of gzip inflating to 40 KB of `"\\`: ~7 s of CPU before the fix (issue: 86 bytes, ~5 s)."""
    compressed = gzip.compress(b'"\\' * 20_000, compresslevel=9, mtime=0)
    assert len(compressed) < 100
    assert cpu_in_child(lambda: jsonb_bytes(decode(compressed, Coding.GZIP, BIG.max_body_bytes)), 1.0) < 0.5


def test_freeze_form_60kb_bracket_name() -> None:
    """A 60 KB form field name of `[]` pairs (names.py's trailing-bracket regex): ~11 s before a fix."""
    body = b"[]" * 30_000 + b"x=1"
    assert cpu_in_child(form(body), 1.0) < 0.5
