"""The differential corpus: hostile request bodies and framings, each with the outcome the proxy must give.

Shared by tests/security/test_differentials.py (every case through the proxy, then every origin parser) and
benchmarks/hostile_lag.py (the same cases as load, measuring the event loop's lag). It lives here, in the
kit both may import, so that benchmarks never import tests.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from testkit.cloudfront import FORM, cf_config, cf_profile, cf_public_key, write_config_dir

PHONE = "404-555-0150"


CARD = "4111111111111111"


NUMBER = "40455501509999999999"  # a protected JSON number


SECRETS = (PHONE, CARD, NUMBER)


JSON = "application/json"


MULTI = "multipart/form-data; boundary=B0undary"


@dataclass(frozen=True)
class Case:
    id: str
    content_type: str | None
    body: bytes
    outcome: str  # "encrypt": forwarded with the secret encrypted; "refuse": a 4xx from the proxy with its
    # reason; "server": a 4xx from aiohttp's HTTP parser before the proxy's handler runs; nothing forwarded
    headers: tuple[tuple[str, str], ...] = ()


def form(id: str, body: str | bytes, outcome: str = "encrypt", ct: str = FORM, **kw: Any) -> Case:
    raw = body.encode() if isinstance(body, str) else body
    return Case(id, ct, raw, outcome, **kw)


def part(name: bytes, value: bytes, extra: bytes = b"", disposition: bytes | None = None) -> bytes:
    disposition = disposition or b'form-data; name="' + name + b'"'
    return b"Content-Disposition: " + disposition + b"\r\n" + extra + b"\r\n" + value


def multi(
    id: str, *parts: bytes, outcome: str = "encrypt", ct: str = MULTI, raw: bytes | None = None
) -> Case:
    body = (
        raw if raw is not None else b"".join(b"--B0undary\r\n" + p + b"\r\n" for p in parts) + b"--B0undary--"
    )
    return Case(id, ct, body, outcome)


def js(id: str, text: str | bytes, outcome: str = "encrypt", ct: str = JSON, **kw: Any) -> Case:
    return Case(id, ct, text.encode() if isinstance(text, str) else text, outcome, **kw)


P, C = PHONE.encode(), CARD.encode()


FORM_CASES = [
    form("exact", f"a=1&phone={PHONE}"),
    form("percent-encoded-name", f"ph%6Fne={PHONE}"),
    form("percent-encoded-upper-hex", f"%70%68%6F%6E%65={PHONE}"),
    form("nul-after-name", f"phone%00={PHONE}"),
    form("double-encoded-name", f"%2570hone={PHONE}"),
    form("upper-case-name", f"PHONE={PHONE}"),
    form("mixed-case-name", f"pHoNe={PHONE}"),
    form("php-array", f"phone[]={PHONE}"),
    form("php-index", f"phone[0]={PHONE}"),
    form("php-key", f"phone[home]={PHONE}"),
    form("trailing-space-plus", f"phone+={PHONE}"),
    form("trailing-space-pct", f"phone%20={PHONE}"),
    form("leading-space", f"+phone={PHONE}"),
    form("php-dot", f"credit.card={CARD}"),
    form("php-space", f"credit+card={CARD}"),
    form("php-open-bracket", f"credit%5Bcard={CARD}"),
    form("fullwidth-lookalike", f"%EF%BD%90%EF%BD%88%EF%BD%8F%EF%BD%8E%EF%BD%85={PHONE}"),
    form("duplicate-names", f"phone={PHONE}&phone={PHONE}&Phone={PHONE}"),
    form("value-with-equals", f"phone={PHONE}=x"),
    form("value-encoded", "phone=" + "".join(f"%{b:02X}" for b in P)),
    form("overlong-utf8-name", f"ph%C1%AFne={PHONE}", "refuse"),
    form("invalid-utf8-name", f"ph%FFone={PHONE}", "refuse"),
    form("raw-invalid-utf8-name", b"ph\xffone=" + P, "refuse"),
    form("semicolon-separator", f"a=1;phone={PHONE}", "refuse"),
    form("raw-nul", b"phone\x00=" + P, "refuse"),
    form("raw-newline", f"a=1\nphone={PHONE}", "refuse"),
    form("bad-escape", f"a=%G1&phone={PHONE}", "refuse"),
    form("charset-utf-16", "p%00h%00o%00n%00e%00=%004%000%004%00", "refuse", ct=FORM + "; charset=utf-16le"),
    form("charset-utf-7", f"%2BAHA-hone={PHONE}", "refuse", ct=FORM + "; charset=utf-7"),
    form("charset-latin-1", f"phone={PHONE}", "refuse", ct=FORM + "; charset=iso-8859-1"),
    form("charset-utf-8", f"phone={PHONE}", ct=FORM + "; charset=UTF-8"),
    form("charset-us-ascii", f"phone={PHONE}", "refuse", ct=FORM + "; charset=us-ascii"),
    form("charset-rfc2231", f"phone={PHONE}", "refuse", ct=FORM + "; charset*=utf-7''"),
    form("ct-empty-param", f"phone={PHONE}", "refuse", ct=FORM + ";; charset=utf-8"),
    form("ct-unknown-param", f"phone={PHONE}", "refuse", ct=FORM + "; x=1"),
    form("media-type-case", f"phone={PHONE}", ct="Application/X-WWW-Form-Urlencoded"),
    form("gzip", gzip.compress(f"phone={PHONE}".encode()), headers=(("Content-Encoding", "gzip"),)),
    form("deflate", zlib.compress(f"PHONE={PHONE}".encode()), headers=(("Content-Encoding", "deflate"),)),
    form(
        "gzip-twice", gzip.compress(gzip.compress(P)), "refuse", headers=(("Content-Encoding", "gzip, gzip"),)
    ),
    form("brotli", b"\x0b\x02\x80phone=1\x03", "refuse", headers=(("Content-Encoding", "br"),)),
    form("gzip-corrupt", b"\x1f\x8b" + P, "refuse", headers=(("Content-Encoding", "gzip"),)),
    form("two-content-types", f"phone={PHONE}", "server", headers=(("Content-Type", "text/plain"),)),
]


MULTIPART_CASES = [
    multi("exact", part(b"a", b"1"), part(b"phone", P)),
    multi("upper-case-name", part(b"PHONE", P)),
    multi("php-array", part(b"phone[]", P)),
    multi("token-name", part(b"", P, disposition=b"form-data; name=phone")),
    multi("percent-encoded-name", part(b"ph%6Fne", P)),
    multi("rfc2047-name", part(b"=?utf-8?q?phone?=", P), outcome="refuse"),  # '=' in a quoted value
    multi("file-part", part(b"", P, disposition=b'form-data; name="phone"; filename="a.txt"')),
    multi("filename-is-not-name", part(b"", b"x", disposition=b'form-data; name="a"; filename="phone"')),
    multi("name-star", part(b"", P, disposition=b"form-data; name*=utf-8''phone"), outcome="refuse"),
    multi("name-twice", part(b"", P, disposition=b'form-data; name="a"; name="phone"'), outcome="refuse"),
    multi("backslash-name", part(b"ph\\one", P), outcome="refuse"),
    multi(
        "quoted-printable",
        part(b"phone", b"=34=30=34-555-0150", b"Content-Transfer-Encoding: quoted-printable\r\n"),
        outcome="refuse",
    ),
    multi(
        "base64-transfer-encoding",
        part(b"Phone", b"NDA0LTU1NS0wMTUw", b"Content-Transfer-Encoding: base64\r\n"),
        outcome="refuse",
    ),
    multi("own-content-length", part(b"phone", P, b"Content-Length: 12\r\n"), outcome="refuse"),
    multi(
        "two-dispositions",
        part(b"a", P, b'Content-Disposition: form-data; name="phone"\r\n'),
        outcome="refuse",
    ),
    multi("folded-header", part(b"a", P, b"X: 1\r\n  continued\r\n"), outcome="refuse"),
    multi(
        "preamble", raw=b"hello\r\n--B0undary\r\n" + part(b"phone", P) + b"\r\n--B0undary--", outcome="refuse"
    ),
    multi(
        "lf-only",
        raw=b'--B0undary\nContent-Disposition: form-data; name="phone"\n\n' + P + b"\n--B0undary--",
        outcome="refuse",
    ),
    multi("no-close-delimiter", raw=b"--B0undary\r\n" + part(b"phone", P) + b"\r\n", outcome="refuse"),
    multi("boundary-twice", part(b"phone", P), ct=MULTI + "; boundary=other", outcome="refuse"),
    multi("no-boundary", part(b"phone", P), ct="multipart/form-data", outcome="refuse"),
    # issue 13: framing. Werkzeug and PHP start a part at a delimiter after a bare LF (some after a bare CR)
    *(
        multi(
            f"delimiter-after-{label}",
            raw=b"--B0undary\r\n"
            + part(b"a", b"1" + sep + b"--B0undary\r\n" + part(b"phone", P))
            + b"\r\n--B0undary--\r\n",
            outcome="refuse",
        )
        for label, sep in (("bare-lf", b"\n"), ("bare-cr", b"\r"), ("nothing", b""), ("lf-lf", b"\n\n"))
    ),
    multi(
        "delimiter-right-after-blank-line",
        raw=b"--B0undary\r\n" + part(b"a", b"--B0undary\r\n" + part(b"phone", P)) + b"\r\n--B0undary--",
        outcome="refuse",
    ),
    multi(
        "bare-lf-in-head",
        part(b"a", P, b"X: 1\nContent-Disposition: form-data; name=phone\r\n"),
        outcome="refuse",
    ),
    multi("unknown-part-header", part(b"phone", P, b"X-Note: 1\r\n"), outcome="refuse"),
    # issue 13: Content-Disposition parameters
    *(
        multi(f"rfc2231-{label}", part(b"", P, disposition=b"form-data; " + d), outcome="refuse")
        for label, d in (
            ("name-star-0", b'name*0="phone"'),
            ("upper-name-star", b"NAME*=utf-8''phone"),
            ("name-star-00", b'name*00="phone"'),
            ("name-star-0-star", b"name*0*=utf-8''phone"),
            ("empty-name-continued", b'name=""; name*0="pho"; name*1="ne"'),
            ("filename-star", b"name=phone; filename*=utf-8''a.txt"),
        )
    ),
    multi("space-before-equals", part(b"", P, disposition=b'form-data; name ="phone"'), outcome="refuse"),
    multi("space-after-equals", part(b"", P, disposition=b'form-data; name= "phone"'), outcome="refuse"),
    multi(
        "resync-in-quoted-value",
        part(b"", P, disposition=b'form-data; name="x; name=phone"'),
        outcome="refuse",
    ),
    multi(
        "unknown-disposition-param",
        part(b"phone", P, disposition=b'form-data; name="phone"; x=1'),
        outcome="refuse",
    ),
    multi("invalid-utf8-name", part(b"ph\xffone", P), outcome="refuse"),
    # Rack 2.2 names a part after its filename when the name is empty or its regex misses the name
    multi(
        "rack-empty-name", part(b"", P, disposition=b'form-data; name=""; filename="phone"'), outcome="refuse"
    ),
    multi(
        "rack-colon-in-filename",
        part(b"", P, disposition=b'form-data; filename="phone:x"; name="a"'),
        outcome="refuse",
    ),
    multi(
        "rack-disposition-in-content-type",
        part(b"a", P, b'Content-Type: text/plain; x="Content-Disposition: form-data; name=phone"\r\n'),
        outcome="refuse",
    ),
    multi("utf8-name", part("t\u00e9l\u00e9phone".encode(), b"x")),  # valid UTF-8 names still pass
    # issue 13: Content-Type parameters
    multi(
        "boundary-escaped",
        part(b"phone", P),
        ct='multipart/form-data; boundary="B0und\\ary"',
        outcome="refuse",
    ),
    multi(
        "boundary-star", part(b"phone", P), ct="multipart/form-data; boundary*=''B0undary", outcome="refuse"
    ),
    multi("boundary-case-twice", part(b"phone", P), ct=MULTI + "; BOUNDARY=other", outcome="refuse"),
    multi("unknown-ct-param", part(b"phone", P), ct=MULTI + "; x=1", outcome="refuse"),
    multi(  # Rack 2.2 reads the boundary "a,b" as "a" and finds the phone part
        "boundary-with-comma",
        raw=b"--a,b\r\n"
        + part(b"x", b"1\r\n--a\r\n" + part(b"phone", P) + b"\r\n--a--\r\n")
        + b"\r\n--a,b--\r\n",
        ct='multipart/form-data; boundary="a,b"',
        outcome="refuse",
    ),
    multi(
        "php-boundary-search",
        part(b"phone", P),
        ct='multipart/form-data; BOUNDARY="B0undary"; charset=utf-8',
    ),
    multi(
        "multipart-charset-latin-1", part(b"phone", P), ct=MULTI + "; charset=iso-8859-1", outcome="refuse"
    ),
]


JSON_CASES = [
    js("exact", f'{{"a": 1, "phone": "{PHONE}"}}'),
    js("escaped-key", f'{{"\\u0070hone": "{PHONE}"}}'),
    js("upper-case-key", f'{{"PHONE": "{PHONE}"}}'),
    js("nested-case", f'{{"Card": {{"NUMBER": "{CARD}"}}}}'),
    js("escaped-value", '{"phone": "' + "".join(f"\\u{ord(c):04x}" for c in PHONE) + '"}'),
    js("big-number", f'{{"phone": {NUMBER}}}'),
    js("whitespace", f'\r\n\t {{ "phone" :\n"{PHONE}" }} \n'),
    js("duplicate-key", f'{{"phone": "x", "phone": "{PHONE}"}}', "refuse"),
    js("case-duplicate-key", f'{{"phone": "{PHONE}", "PHONE": "{PHONE}"}}'),
    js("bom", b"\xef\xbb\xbf" + f'{{"phone": "{PHONE}"}}'.encode(), "refuse"),
    js("utf-16", f'{{"phone": "{PHONE}"}}'.encode("utf-16"), "refuse"),
    js("charset-utf-16", f'{{"phone": "{PHONE}"}}', "refuse", ct=JSON + "; charset=utf-16"),
    js("charset-utf-7", '{"+AHA-hone": "' + PHONE + '"}', "refuse", ct=JSON + "; charset=utf-7"),
    js("charset-escaped", f'{{"phone": "{PHONE}"}}', "refuse", ct=JSON + '; charset="utf\\-8"'),
    js("charset-twice", f'{{"phone": "{PHONE}"}}', "refuse", ct=JSON + "; charset=utf-8; charset=utf-7"),
    js("charset-utf8-alias", f'{{"phone": "{PHONE}"}}', "refuse", ct=JSON + "; charset=utf8"),
    js("charset-quoted-upper", f'{{"phone": "{PHONE}"}}', ct=JSON + '; charset="UTF-8"'),
    js("nan", f'{{"a": NaN, "phone": "{PHONE}"}}', "refuse"),
    js("trailing-document", f'{{"a": 1}} {{"phone": "{PHONE}"}}', "refuse"),
    js("deep-nesting", "[" * 100 + f'{{"phone": "{PHONE}"}}' + "]" * 100, "refuse"),
    js("single-quotes", f"{{'phone': '{PHONE}'}}", "refuse"),
    js("comment", f'{{"phone": /* x */ "{PHONE}"}}', "refuse"),
    js("gzip", gzip.compress(f'{{"phone": "{PHONE}"}}'.encode()), headers=(("Content-Encoding", "gzip"),)),
]


def raw_request(case: Case) -> bytes:
    head = [b"POST /submit HTTP/1.1", b"Host: origin.example", b"Connection: close"]
    if case.content_type is not None:
        head.append(b"Content-Type: " + case.content_type.encode())
    head += [f"{k}: {v}".encode() for k, v in case.headers]
    head.append(b"Content-Length: " + str(len(case.body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + case.body


def _framed(*headers: bytes, body: bytes = b"phone=" + P) -> bytes:
    head = [b"POST /submit HTTP/1.1", b"Host: origin.example", b"Connection: close", *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


CHUNKED = b"%x\r\n" % len(b"phone=" + P) + b"phone=" + P + b"\r\n0\r\n\r\n"


CT = b"Content-Type: " + FORM.encode()


LENGTH = b"Content-Length: %d" % len(b"phone=" + P)


# (id, raw request, the status we observed): aiohttp's HTTP parser (llhttp) refuses most of these itself
# with 400 before the proxy runs; the others reach the proxy and are encrypted. Never plaintext forwarded.
FRAMING_CASES = [
    ("two-content-lengths", _framed(CT, LENGTH, b"Content-Length: 5"), 400),
    ("same-content-length-twice", _framed(CT, LENGTH, LENGTH), 400),
    ("content-length-and-chunked", _framed(CT, LENGTH, b"Transfer-Encoding: chunked", body=CHUNKED), 400),
    (
        "chunked-twice",
        _framed(CT, b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=CHUNKED),
        400,
    ),
    ("chunked-not-last", _framed(CT, b"Transfer-Encoding: chunked, identity", body=CHUNKED), 400),
    ("xchunked", _framed(CT, b"Transfer-Encoding: xchunked", body=CHUNKED), 400),
    ("plus-sign-length", _framed(CT, b"Content-Length: +%d" % len(b"phone=" + P)), 400),
    ("space-before-colon", _framed(CT, b"Content-Length : %d" % len(b"phone=" + P)), 400),
    ("obs-fold-content-type", _framed(b"Content-Type: text/plain,\r\n " + FORM.encode(), LENGTH), 400),
    ("nul-in-header", _framed(CT + b"\x00", LENGTH), 400),
    ("bare-lf-head", _framed(CT, LENGTH).replace(b"\r\n", b"\n", 4), 400),
    ("chunked", _framed(CT, b"Transfer-Encoding: chunked", body=CHUNKED), 200),
    (
        "chunk-extension",
        _framed(CT, b"Transfer-Encoding: chunked", body=CHUNKED.replace(b"\r\n", b";x=1\r\n", 1)),
        200,
    ),
    ("upper-case-chunked", _framed(CT, b"TRANSFER-ENCODING: CHUNKED", body=CHUNKED), 200),
]


def corpus_config_dir(directory: Path, key: rsa.RSAPrivateKey) -> Path:
    """The corpus's config: form `phone`/`credit_card`, JSON pointers, multipart `phone`, all under key KA."""
    config = cf_config("C1", [(FORM, "PF"), (JSON, "PJ", "JSON"), ("multipart/form-data", "PM", "Multipart")])
    return write_config_dir(
        directory,
        cf_public_key("KA", "KeyA", key),
        cf_profile("PF", [("KA", "Alpha", ["phone", "credit_card"])]),
        cf_profile("PJ", [("KA", "Alpha", ["/phone", "/card/number"])]),
        cf_profile("PM", [("KA", "Alpha", ["phone"])]),
        config,
    )
