"""The one strict parser of Content-Type and Content-Disposition parameters (fields/header_params.py).

A table of headers it accepts (with what it reads) and refuses; then why: the forms it refuses are read
differently by the real parsers origin frameworks use (Werkzeug, python-multipart, aiohttp, email).
"""

from __future__ import annotations

import pytest

from fields.header_params import HeaderParamError, parse_content_type, parse_disposition
from tests.differential_parsers import read_aiohttp, read_email, read_python_multipart, read_werkzeug

ACCEPTED = [
    ("text/plain", "text/plain", ()),
    (
        "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
        "application/x-www-form-urlencoded",
        (("charset", "UTF-8"),),
    ),
    ("  text/plain ;x=1", "text/plain", (("x", "1"),)),
    ("text/plain\t;\tx=1 ", "text/plain", (("x", "1"),)),
    ("multipart/form-data;boundary=abc", "multipart/form-data", (("boundary", "abc"),)),
    ('multipart/form-data; boundary="a b:c"', "multipart/form-data", (("boundary", "a b:c"),)),
    ('a/b; x=""; Y="a;b=c"', "a/b", (("x", ""), ("y", "a;b=c"))),
    ("a/b; x=1; y=2; z=3", "a/b", (("x", "1"), ("y", "2"), ("z", "3"))),
    ("application/vnd.api+json", "application/vnd.api+json", ()),
]

REFUSED = [
    # not type/subtype
    "",
    " ",
    "form",
    "text/",
    "/plain",
    "text /plain",
    "text/ plain",
    "text/plain, application/json",
    "text/plain application/json",
    # RFC 2231 / 8187 forms, every variant
    "text/plain; charset*=utf-8''utf-8",
    "text/plain; CHARSET*=utf-8''utf-8",
    "text/plain; charset*0=utf-8",
    "text/plain; charset*00=utf-8",
    "text/plain; charset*0*=utf-8''utf-8",
    "text/plain; charset*1=x",
    'text/plain; charset=""; charset*0="utf-7"',
    # duplicates, case-insensitive
    "text/plain; charset=utf-8; charset=utf-8",
    "text/plain; charset=utf-8; CHARSET=utf-7",
    'multipart/form-data; boundary=a; Boundary="b"',
    # escapes: any backslash in a quoted string
    'text/plain; charset="utf\\-8"',
    'text/plain; charset="utf-8\\"',
    'multipart/form-data; boundary="a\\"b"',
    'text/plain; x="\\\\"',
    "text/plain; x=a\\b",
    # whitespace around '='
    "text/plain; charset =utf-8",
    "text/plain; charset= utf-8",
    'text/plain; charset= "utf-8"',
    "text/plain; charset\t=utf-8",
    # empty parameters, missing values or names
    "text/plain;; charset=utf-8",
    "text/plain; ; charset=utf-8",
    "text/plain;",
    "text/plain; charset=utf-8;",
    "text/plain; charset",
    "text/plain; charset=",
    "text/plain; =utf-8",
    # quoted strings: unclosed, or followed by anything but OWS and ';'
    'text/plain; charset="utf-8',
    'text/plain; charset="utf-8"x',
    'text/plain; charset="utf-8" x=1',
    'text/plain; charset="utf-8""',
    "text/plain; charset=utf-8 x",
    "text/plain; charset=utf-8, text/html",
    # control characters and non-ASCII
    "text/plain; charset=utf-8\x00",
    'text/plain; x="a\rb"',
    'text/plain; x="a\nb"',
    'text/plain; x="a\x7fb"',
    'text/plain; x="caf\u00e9"',
    'text/plain; x="a\udcffb"',  # a byte aiohttp could not decode (surrogateescape)
    "text/plain\x0b",
    # token characters only in names and unquoted values
    "text/plain; ch@rset=utf-8",
    "text/plain; x=a/b",
    "text/plain; x=a=b",
    'text/plain; "x"=1',
]


@pytest.mark.parametrize(("value", "kind", "params"), ACCEPTED)
def test_accepted_content_types(value: str, kind: str, params: tuple[tuple[str, str], ...]) -> None:
    parsed = parse_content_type(value)
    assert (parsed.kind, parsed.params) == (kind, params)


@pytest.mark.parametrize("value", REFUSED)
def test_refused_content_types(value: str) -> None:
    with pytest.raises(HeaderParamError) as refused:
        parse_content_type(value)
    assert value.strip() == "" or value.strip() not in str(refused.value)  # the message never quotes it


def test_param_lookup_and_names() -> None:
    parsed = parse_content_type('multipart/form-data; Charset=utf-8; BOUNDARY="x"')
    assert parsed.param("boundary") == "x" and parsed.param("charset") == "utf-8"
    assert parsed.param("name") is None and parsed.names == {"boundary", "charset"}


@pytest.mark.parametrize(
    ("value", "params"),
    [
        ('form-data; name="phone"', (("name", "phone"),)),
        ("form-data; name=phone", (("name", "phone"),)),
        (
            'Form-Data; name="t\u00e9l\u00e9phone"; filename="\u00e9.txt"',
            (("name", "t\u00e9l\u00e9phone"), ("filename", "\u00e9.txt")),
        ),
        ('form-data; name=""', (("name", ""),)),
    ],
)
def test_accepted_dispositions(value: str, params: tuple[tuple[str, str], ...]) -> None:
    parsed = parse_disposition(value)
    assert (parsed.kind, parsed.params) == ("form-data", params)


@pytest.mark.parametrize(
    "value",
    [
        "form-data; name*=utf-8''phone",
        "form-data; NAME*=utf-8''phone",
        'form-data; name*0="phone"',
        'form-data; name*00="phone"',
        "form-data; name*0*=utf-8''phone",
        'form-data; name=""; name*0="pho"; name*1="ne"',
        'form-data; name="a"; name="phone"',
        'form-data; name="a"; NAME="phone"',
        'form-data; name ="phone"',
        'form-data; name= "phone"',
        'form-data; name="ph\\one"',
        'form-data; name="phone',
        'form-data; name="a"b',
        "form-data;; name=a",
        "form-data; name=a;",
        "form-data name=a",
        'form-data; name="a\x00"',
        "form-data; name=t\u00e9l",  # non-ASCII only inside a quoted string
    ],
)
def test_refused_dispositions(value: str) -> None:
    with pytest.raises(HeaderParamError):
        parse_disposition(value)


# --- why: the real parsers disagree on exactly these forms -------------------------------------------------

P = b"404-555-0150"
READERS = {
    "werkzeug": read_werkzeug,
    "python-multipart": read_python_multipart,
    "email": read_email,
    "aiohttp": read_aiohttp,
}


def _names(disposition: bytes) -> dict[str, object]:
    body = b"--B\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + P + b"\r\n--B--\r\n"
    out: dict[str, object] = {}
    for label, read in READERS.items():
        try:
            out[label] = sorted({name for name, _ in read(body, "multipart/form-data; boundary=B")})
        except Exception as e:  # a parser that refuses is one more reading
            out[label] = type(e).__name__
    return out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # aiohttp warns of the header it refuses
@pytest.mark.parametrize(
    "disposition",
    [
        b'form-data; name="a"; name="phone"',  # Werkzeug and python-multipart: the last; email: the first
        b'form-data; name ="phone"',  # Werkzeug: no name; the others: phone
        b'form-data; name*0="phone"',  # Werkzeug, email, aiohttp: phone; python-multipart: no name
        b"form-data; NAME*=utf-8''phone",
    ],
)
def test_the_refused_dispositions_are_read_differently_by_real_parsers(disposition: bytes) -> None:
    with pytest.raises(HeaderParamError):
        parse_disposition(disposition.decode())
    readings = _names(disposition)
    assert len({repr(v) for v in readings.values()}) > 1, readings


def test_a_quoted_pair_in_the_boundary_is_read_differently_by_real_parsers() -> None:
    content_type = 'multipart/form-data; boundary="a\\"b"'
    with pytest.raises(HeaderParamError):
        parse_content_type(content_type)
    body = b'--a"b\r\nContent-Disposition: form-data; name="phone"\r\n\r\n' + P + b'\r\n--a"b--\r\n'
    found = {}
    for label, read in READERS.items():
        try:
            found[label] = any(P.decode() in value for _, value in read(body, content_type))
        except Exception:
            found[label] = False
    assert found["werkzeug"] and not found["aiohttp"], found  # Werkzeug unescapes, aiohttp keeps the \\
