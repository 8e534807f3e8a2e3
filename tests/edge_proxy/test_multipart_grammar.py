"""The strict multipart grammar (fields/multipart_head.py, multipart.py): framing, part headers, boundary.

Whole bodies through `multipart.rewrite`, and chunk by chunk through `MultipartRewriter` to show that no
byte from a hidden delimiter on is ever released, wherever the chunks are cut.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_proxy import Limits, RequestRefused
from fields import multipart
from fields.multipart import boundary_of
from tests.bodies_helpers import profile, stand_in_decrypt, stand_in_encrypt
from tests.differential_parsers import read_email, read_werkzeug

PROFILE = profile("card", "passport*")
CT = "multipart/form-data; boundary=fleB"
B = b"--fleB"
DISPOSITION = b'Content-Disposition: form-data; name="'


def part(name: bytes, content: bytes, headers: bytes = b"") -> bytes:
    return B + b"\r\n" + DISPOSITION + name + b'"\r\n' + headers + b"\r\n" + content + b"\r\n"


def head(*lines: bytes, content: bytes = b"1") -> bytes:
    """A body of one part with exactly these header lines."""
    return B + b"\r\n" + b"\r\n".join(lines) + b"\r\n\r\n" + content + b"\r\n" + B + b"--"


def rewrite(data: bytes, content_type: str = CT) -> tuple[bytes, int]:
    return multipart.rewrite(data, content_type, PROFILE, stand_in_encrypt, Limits())


def refused(data: bytes, content_type: str = CT) -> tuple[int, str]:
    with pytest.raises(RequestRefused) as error:
        rewrite(data, content_type)
    return error.value.status, error.value.reason


MALFORMED = (400, "MalformedMultipartClientError")
NAME_A = DISPOSITION + b'a"'


# --- framing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("before", [b"\n", b"\r", b"", b"x", b"\n\n", b"\r\r", b"\n\r", b" "])
def test_a_delimiter_not_right_after_crlf_is_refused(before: bytes) -> None:
    data = part(b"a", b"1" + before + part(b"card", b"4111")[:-2]) + B + b"--"
    assert refused(data) == MALFORMED


def test_werkzeug_and_email_read_a_part_after_a_bare_lf_or_cr() -> None:
    """Why: the hidden part below is a real part to Werkzeug and the email package."""
    for before in (b"\n", b"\r"):
        data = part(b"a", b"1" + before + part(b"card", b"4111")[:-2]) + B + b"--\r\n"
        for read in (read_werkzeug, read_email):
            assert "card" in {name for name, _ in read(data, CT)}, (read.__name__, before)


def test_the_delimiter_text_anywhere_in_content_is_refused() -> None:
    assert refused(part(b"a", b"x" + B + b"y") + B + b"--") == MALFORMED
    assert refused(part(b"a", B + b"\r\n") + B + b"--") == MALFORMED  # right after the blank line
    assert refused(part(b"card", b"x--fleBoundary") + B + b"--") == MALFORMED  # a longer boundary too


def test_the_delimiter_text_in_part_headers_is_refused() -> None:
    assert refused(head(NAME_A, b"Content-Type: text/plain; x=" + B)) == MALFORMED
    assert refused(head(DISPOSITION + b"a" + B + b'"')) == MALFORMED


def test_crlf_then_delimiter_is_still_the_separator_and_dashes_elsewhere_pass() -> None:
    data = part(b"a", b"--fle-\r\n--fle\r\n-fleB") + part(b"card", b"4111") + B + b"--"
    out, count = rewrite(data)
    assert count == 1 and b"4111" not in out and out.startswith(part(b"a", b"--fle-\r\n--fle\r\n-fleB"))


CONTENT = st.binary(max_size=200).filter(lambda c: B not in c and not c.endswith(b"\r\n-"))


@settings(max_examples=300, deadline=None)
@given(
    CONTENT,
    st.sampled_from([b"\n", b"\r", b"", b"x", b"\r\r", b"\n\n", b"-"]),
    st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=30),
)
def test_property_no_byte_from_a_hidden_delimiter_on_is_released(
    content: bytes, before: bytes, cuts: list[int]
) -> None:
    prefix = part(b"photo", content)[:-2]  # an unprotected part, released as it streams
    if (prefix + before).endswith(b"\r\n"):  # content ending in CRLF, or CR then LF
        before = b"x" + before  # else it would be a CRLF: a real separator
    hidden_at = len(prefix + before)
    data = prefix + before + part(b"card", b"4111 1111") + B + b"--"
    rewriter = multipart.MultipartRewriter(CT, PROFILE, stand_in_encrypt, Limits())
    released, at = bytearray(), 0
    with pytest.raises(RequestRefused) as error:
        for size in cuts * (len(data) // sum(cuts) + 1):
            released += rewriter.feed(data[at : at + size])
            at += size
        released += rewriter.close()
    assert error.value.reason == "MalformedMultipartClientError"
    assert len(released) <= hidden_at and data.startswith(bytes(released))


# --- part headers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((NAME_A, b"X-Note: 1"), MALFORMED),  # a header not on the allow-list
        ((NAME_A, b"Content-ID: <x>"), MALFORMED),
        ((NAME_A, b"Content-Length: 1"), MALFORMED),  # on an unprotected part too
        ((NAME_A, b"Content-Type: text/plain", b"content-type: text/plain"), MALFORMED),
        ((NAME_A, b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: 8bit"), MALFORMED),
        ((NAME_A, b"Content-Transfer-Encoding: base64"), (400, "UnsupportedTransferEncodingClientError")),
        ((NAME_A, b"Content-Type: text/plain; charset=a; charset=b"), MALFORMED),
        ((NAME_A, b'Content-Type: text/plain; charset="\\x"'), MALFORMED),
        ((NAME_A, b"Content-Type: text"), MALFORMED),
        ((NAME_A + b"\rX: 1",), MALFORMED),  # a bare CR inside the head
        ((NAME_A + b"\nX: 1",), MALFORMED),  # a bare LF
        ((NAME_A + b"\x00",), MALFORMED),
        ((b"Content-Disposition : form-data; name=a",), MALFORMED),
        ((b" Content-Disposition: form-data; name=a",), MALFORMED),
        ((NAME_A, b"  folded"), MALFORMED),
        ((b"Content-Disposition: form-data",), MALFORMED),  # no name
        ((b"Content-Disposition: attachment; name=a",), MALFORMED),
        ((b'Content-Disposition: form-data; name="a"; filename="x"; filename="y"',), MALFORMED),
        ((b'Content-Disposition: form-data; name="a"; size=3',), MALFORMED),  # not name or filename
        ((b'Content-Disposition: form-data; name="a; name=card"',), MALFORMED),  # ';' in a quoted value
        ((b'Content-Disposition: form-data; name="a"; filename="a=b.txt"',), MALFORMED),  # '='
        ((b'Content-Disposition: form-data; filename="a:b"; name="a"',), MALFORMED),  # ':' (Rack)
        ((b'Content-Disposition: form-data; name=""; filename="card"',), MALFORMED),  # empty (Rack)
        ((b'Content-Disposition: form-data; name=""',), MALFORMED),
        ((b'Content-Type: text/plain; x="Content-Disposition: form-data; name=card"', NAME_A), MALFORMED),
        ((NAME_A, b'Content-Type: text/plain; x="a;b"'), MALFORMED),
        ((b'Content-Disposition: form-data; name= "card"',), MALFORMED),
        ((b'Content-Disposition: form-data; name ="card"',), MALFORMED),
        ((b"Content-Disposition: form-data; name*=utf-8''card",), MALFORMED),
        ((b'Content-Disposition: form-data; name*0="card"',), MALFORMED),
        ((b'Content-Disposition: form-data; name="c\\ard"',), MALFORMED),
        ((b'Content-Disposition: form-data; name="ca\xffrd"',), MALFORMED),  # not UTF-8
        ((b'Content-Disposition: form-data; name="\xc1\xafcard"',), MALFORMED),  # overlong UTF-8
        ((b"Content-Disposition: form-data; name='card'",), MALFORMED),  # PHP reads `card`
        ((b'Content-Disposition: form-data; name="a"; filename="\'x"',), MALFORMED),
    ],
)
def test_part_headers_outside_the_grammar_are_refused(lines: tuple[bytes, ...], expected: tuple) -> None:  # type: ignore[type-arg]
    assert refused(head(*lines)) == expected


@pytest.mark.parametrize(
    "lines",
    [
        (b"content-disposition:form-data;name=card",),
        (b'CONTENT-DISPOSITION: \tFORM-DATA; name="card" \t',),
        (DISPOSITION + b'card"; filename="\xc3\xa9t\xc3\xa9.png"', b"Content-Type: image/png"),
        (
            DISPOSITION + b'card"',
            b"Content-Transfer-Encoding: BINARY",
            b"Content-Type: text/plain; charset=utf-8",
        ),
    ],
)
def test_part_headers_inside_the_grammar_are_accepted(lines: tuple[bytes, ...]) -> None:
    out, count = rewrite(head(*lines, content=b"4111"))
    assert count == 1 and b"4111" not in out
    assert stand_in_decrypt(out.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[0]) == b"4111"


def test_what_browsers_send_for_an_empty_file_input_passes() -> None:
    data = head(DISPOSITION + b'photo"; filename=""', b"Content-Type: application/octet-stream", content=b"")
    assert rewrite(data) == (data, 0)


def test_a_utf8_name_is_matched_and_kept() -> None:
    data = head(DISPOSITION + "t\u00e9l\u00e9phone".encode() + b'"', content=b"x")
    assert rewrite(data) == (data, 0)


# --- the body's Content-Type --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=fleB", b"fleB"),
        ('multipart/form-data; boundary="fleB"', b"fleB"),
        ("Multipart/Form-Data; charset=UTF-8; Boundary=----WebKitFormBoundaryX", b"----WebKitFormBoundaryX"),
        ('multipart/form-data; boundary="' + "a" * 70 + '"', b"a" * 70),
        ('multipart/form-data; boundary="\'()+_-./:=?"', b"'()+_-./:=?"),
        ('multipart/form-data; BOUNDARY="fleB"', b"fleB"),
    ],
)
def test_accepted_boundaries(content_type: str, boundary: bytes) -> None:
    assert boundary_of(content_type) == boundary


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("multipart/form-data", MALFORMED),
        ("multipart/form-data; boundary=" + "a" * 71, MALFORMED),
        ('multipart/form-data; boundary=""', MALFORMED),
        ('multipart/form-data; boundary="a b"', MALFORMED),  # inner space: parsers trim differently
        ('multipart/form-data; boundary="a "', MALFORMED),
        ('multipart/form-data; boundary="a;b"', MALFORMED),
        ('multipart/form-data; boundary="a,b"', MALFORMED),  # Rack 2.2 reads a
        ('multipart/form-data; BOUNDARY="xboundary=y"', MALFORMED),  # PHP reads y"
        ("multipart/form-data; boundary=abc ; charset=utf-8", MALFORMED),  # PHP reads "abc "
        ("multipart/form-data; boundary=a; boundary=b", (400, "MalformedContentTypeClientError")),
        ('multipart/form-data; boundary="a\\b"', (400, "MalformedContentTypeClientError")),
        ("multipart/form-data; boundary*=''abc", (400, "MalformedContentTypeClientError")),
        ("multipart/form-data; boundary=abc; name=x", (400, "MalformedContentTypeClientError")),
        ("multipart/form-data; boundary=abc; charset=utf8", (415, "UnsupportedCharsetClientError")),
        ("multipart/form-data; boundary=abc; charset=iso-8859-1", (415, "UnsupportedCharsetClientError")),
    ],
)
def test_refused_boundaries(content_type: str, expected: tuple[int, str]) -> None:
    with pytest.raises(RequestRefused) as error:
        boundary_of(content_type)
    assert (error.value.status, error.value.reason) == expected


def test_a_head_over_the_limit_is_refused_even_when_its_end_arrives_in_the_same_chunk() -> None:
    long_type = b"Content-Type: text/plain; x=" + b"a" * multipart.MAX_HEAD_BYTES
    assert refused(head(NAME_A, long_type)) == MALFORMED
    fits = b"Content-Type: text/plain; x=" + b"a" * (multipart.MAX_HEAD_BYTES - 100)
    assert rewrite(head(NAME_A, fits))[1] == 0


def test_parts_beyond_the_field_count_limit_are_refused() -> None:
    """Each part's name is read as every origin family would: the count is bounded like a form's fields."""
    at_limit = b"".join(part(b"n%d" % i, b"1") for i in range(1000)) + B + b"--"
    assert rewrite(at_limit)[1] == 0
    over = b"".join(part(b"n%d" % i, b"1") for i in range(1001)) + B + b"--"
    assert refused(over) == (400, "FieldCountLimitClientError")
