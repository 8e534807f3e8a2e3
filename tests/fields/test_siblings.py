"""The fields layer's transform interface: sibling fields written after a value, reserved names refused.

The next issue's blind index writes `<field>__bidx` next to each indexed protected field and must refuse a
body that already carries a field read as such a sidecar. Both need only the generic interface: a
transform returning `Rewritten(value, siblings)`, and a selection mapping the sidecar's name to a tag whose
transform refuses, which every family's reading of a name (and every key reading of JSON) reaches.
Tags here are plain strings: the layer knows nothing of profiles or keys.
"""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qsl

import pytest
from werkzeug.formparser import parse_form_data

from fields import forms, json_body, multipart
from fields.errors import Reason, RequestRefused
from fields.json_pointer import parse_pointer_pattern
from fields.limits import Limits
from fields.patterns import parse_pattern
from fields.selection import Rewritten, Selection

PROTECT, RESERVED = "protect", "reserved"
NAMES = Selection.compile(
    names=[(parse_pattern("phone"), PROTECT), (parse_pattern("phone__bidx"), RESERVED)],
)
POINTERS = Selection.compile(
    pointers=[
        (parse_pointer_pattern("/phone"), PROTECT),
        (parse_pointer_pattern("/phone__bidx"), RESERVED),
        (parse_pointer_pattern("/a/phone"), PROTECT),
        (parse_pointer_pattern("/a/phone__bidx"), RESERVED),
        (parse_pointer_pattern("/list/0"), PROTECT),
    ],
)
SIBLING = "phone__bidx"
SIDECAR = "BlindIndexSidecarClientError"
CT = "multipart/form-data; boundary=XyZ"


def index_transform(value: bytes, tag: str) -> bytes | Rewritten:
    """Stands in for the edge's: an ASCII stand-in value plus one sidecar; a reserved name refuses."""
    if tag == RESERVED:
        raise RequestRefused(Reason.BLIND_INDEX_SIDECAR, "a field is named like a blind-index sidecar")
    return Rewritten(b"E" + value.hex().encode(), siblings=((SIBLING, b"i+/=" + value[:2]),))


def _werkzeug(body: bytes, content_type: str) -> list[tuple[str, str]]:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, _ = parse_form_data(environ, silent=False)
    return list(form.items(multi=True))


def _part(name: str, content: bytes) -> bytes:
    return (
        b'--XyZ\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + content + b"\r\n"
    )


def test_a_form_sibling_follows_its_field_percent_encoded() -> None:
    out, count = forms.rewrite(b"a=1&phone=12&b=2", NAMES, index_transform, Limits())
    assert out == b"a=1&phone=E3132&phone__bidx=i%2B%2F%3D12&b=2"
    assert count == 1  # siblings are written, not counted as transformed values
    assert parse_qsl(out.decode()) == [("a", "1"), ("phone", "E3132"), (SIBLING, "i+/=12"), ("b", "2")]


def test_a_form_sibling_name_is_percent_encoded() -> None:
    def odd(value: bytes, tag: str) -> Rewritten:
        return Rewritten(b"v", siblings=(("a b&c=é", b"x"), ("second", b"y")))

    out, _ = forms.rewrite(b"phone=1", NAMES, odd, Limits())
    assert out == b"phone=v&a%20b%26c%3D%C3%A9=x&second=y"
    assert parse_qsl(out.decode()) == [("phone", "v"), ("a b&c=é", "x"), ("second", "y")]


def test_a_json_sibling_is_a_member_of_the_same_object_right_after() -> None:
    body = b'{"x": 0, "phone": "12", "a": {"phone": 34, "y": [1]}, "z": null}'
    out, count = json_body.rewrite(body, POINTERS, index_transform, Limits())
    assert count == 2
    assert out == (
        b'{"x": 0, "phone": "E3132","phone__bidx":"i+/=12", '
        b'"a": {"phone": "E3334","phone__bidx":"i+/=34", "y": [1]}, "z": null}'
    )
    assert list(json.loads(out)) == ["x", "phone", SIBLING, "a", "z"]


def test_a_json_sibling_name_is_escaped() -> None:
    def odd(value: bytes, tag: str) -> Rewritten:
        return Rewritten(b"v", siblings=(('q"\\é', b"x"),))

    out, _ = json_body.rewrite(b'{"phone": 1}', POINTERS, odd, Limits())
    assert json.loads(out) == {"phone": "v", 'q"\\é': "x"}


def test_a_json_array_element_takes_no_sibling() -> None:
    with pytest.raises(ValueError, match="array"):
        json_body.rewrite(b'{"list": ["1"]}', POINTERS, index_transform, Limits())


MULTIPART_BODY = _part("a", b"1") + _part("phone", b"12") + _part("b", b"2") + b"--XyZ--\r\n"
MULTIPART_OUT = (
    _part("a", b"1")
    + _part("phone", b"E3132")
    + _part(SIBLING, b"i+/=12")
    + _part("b", b"2")
    + b"--XyZ--\r\n"
)


def test_a_multipart_sibling_is_a_part_after_its_part() -> None:
    out, count = multipart.rewrite(MULTIPART_BODY, CT, NAMES, index_transform, Limits())
    assert out == MULTIPART_OUT
    assert count == 1
    assert _werkzeug(out, CT) == [("a", "1"), ("phone", "E3132"), (SIBLING, "i+/=12"), ("b", "2")]


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_a_multipart_sibling_is_written_when_streamed_in_chunks(size: int) -> None:
    """The edge streams large multipart bodies through MultipartRewriter (pipeline/multipart_stream.py)."""
    rewriter = multipart.MultipartRewriter(CT, NAMES, index_transform, Limits())
    pieces = [rewriter.feed(MULTIPART_BODY[i : i + size]) for i in range(0, len(MULTIPART_BODY), size)]
    assert b"".join(pieces) + rewriter.close() == MULTIPART_OUT


@pytest.mark.parametrize("name", ['a"b', "a\r\nb", "a\\b"])
def test_a_multipart_sibling_name_that_cannot_be_quoted_is_a_programming_error(name: str) -> None:
    def odd(value: bytes, tag: str) -> Rewritten:
        return Rewritten(b"v", siblings=((name, b"x"),))

    with pytest.raises(ValueError, match="name"):
        multipart.rewrite(MULTIPART_BODY, CT, NAMES, odd, Limits())


def test_a_multipart_sibling_holding_the_boundary_is_a_programming_error() -> None:
    def odd(value: bytes, tag: str) -> Rewritten:
        return Rewritten(b"v", siblings=(("s", b"x\r\n--XyZ--"),))

    with pytest.raises(ValueError, match="boundary"):
        multipart.rewrite(MULTIPART_BODY, CT, NAMES, odd, Limits())


# A body already carrying a field any origin family reads as the sidecar: each is refused.
RESERVED_NAMES = [
    "phone__bidx",
    "PHONE__bidx",  # ASP.NET, Spring: keys compared case-insensitively
    "phone__bidx[]",  # PHP, Rack, qs: an array under phone__bidx
    "phone__bidx[0]",
    "[phone__bidx]",  # qs drops a leading bracket group's brackets
    "phone__bidx[x]",  # a value beneath the sidecar's key
    "!phone__bidx",  # Spring's default-value marker
    " phone__bidx",  # trimmed
    "phone__bidx\x00x",  # a C parser stops at NUL
    "phone%5F_bidx",  # decoded once more by the application
    "ｐｈｏｎｅ__bidx",  # NFKC
    "=?utf-8?q?phone=5F=5Fbidx?=",  # an RFC 2047 word
]


def _refused(call: object) -> RequestRefused:
    with pytest.raises(RequestRefused) as refused:
        call()  # type: ignore[operator]
    return refused.value


@pytest.mark.parametrize("name", RESERVED_NAMES)
def test_a_form_field_read_as_the_sidecar_is_refused(name: str) -> None:
    from urllib.parse import quote

    body = b"a=1&" + quote(name, safe="").encode() + b"=x"
    refused = _refused(lambda: forms.rewrite(body, NAMES, index_transform, Limits()))
    assert refused.reason == SIDECAR


@pytest.mark.parametrize("name", RESERVED_NAMES)
def test_a_multipart_part_read_as_the_sidecar_is_refused(name: str) -> None:
    body = _part("a", b"1") + _part(name, b"x") + b"--XyZ--\r\n"
    refused = _refused(lambda: multipart.rewrite(body, CT, NAMES, index_transform, Limits()))
    # a NUL or an RFC 2047 word in a part's name is refused by the strict head grammar before any reading
    head_refuses = "\x00" in name or name.startswith("=?")
    assert refused.reason == ("MalformedMultipartClientError" if head_refuses else SIDECAR)


def test_a_multipart_part_read_as_the_sidecar_is_refused_when_streamed() -> None:
    body = _part("a", b"1") + _part("Phone__Bidx[]", b"x") + b"--XyZ--\r\n"
    rewriter = multipart.MultipartRewriter(CT, NAMES, index_transform, Limits())
    with pytest.raises(RequestRefused) as refused:
        for i in range(len(body)):
            rewriter.feed(body[i : i + 1])
        rewriter.close()
    assert refused.value.reason == SIDECAR


@pytest.mark.parametrize(
    "document",
    [
        '{"phone__bidx": "x"}',
        '{"PHONE__BIDX": "x"}',  # Go, Jackson, System.Text.Json (by option) fold case
        '{"ph\\u006fne__bidx": "x"}',  # compared after escapes are decoded
        '{"a": {"phone__bidx": 1}}',
        '{"a.phone__bidx": "x"}',  # lodash _.get, Laravel Arr::get read it as a.phone__bidx
        '{"a[phone__bidx]": "x"}',  # lodash reads brackets as a path too
        '{"a": {"phone__bidx": {"deep": 1}}}',
    ],
)
def test_a_json_member_read_as_the_sidecar_is_refused(document: str) -> None:
    refused = _refused(lambda: json_body.rewrite(document.encode(), POINTERS, index_transform, Limits()))
    assert refused.reason == SIDECAR


def test_a_name_is_found_by_the_selection_itself() -> None:
    assert NAMES.tag_for("user[PHONE__bidx]") is None  # user.phone__bidx: another path
    assert NAMES.tag_for("Phone[]") == PROTECT
    assert NAMES.tag_for("phone__bidx[]") == RESERVED
    assert NAMES.tag_for("other") is None
