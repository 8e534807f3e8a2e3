"""Rewriting multipart/form-data: named parts encrypted whole, other bytes kept, bad bodies refused."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edge_proxy import Limits, RequestRefused
from fields import multipart
from tests.bodies_helpers import profile, stand_in_decrypt, stand_in_encrypt

PROFILE = profile("card", "passport*")
CT = "multipart/form-data; boundary=----fleBoundary7MA4YWxk"
B = b"------fleBoundary7MA4YWxk"


def part(name: bytes, content: bytes, extra: bytes = b"", filename: bytes | None = None) -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return B + b"\r\n" + disposition + b"\r\n" + extra + b"\r\n" + content + b"\r\n"


def body(*parts: bytes, end: bytes = b"\r\n") -> bytes:
    return b"".join(parts) + B + b"--" + end


def rewrite(data: bytes, content_type: str = CT, limits: Limits | None = None) -> tuple[bytes, int]:
    return multipart.rewrite(data, content_type, PROFILE, stand_in_encrypt, limits or Limits())


def parsed(data: bytes, content_type: str = CT) -> list[tuple[str | None, bytes]]:
    """An independent parser (the standard library's email package) reading the rewritten body."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data
    )
    return [
        (p.get_param("name", header="content-disposition"), p.get_payload(decode=True))
        for p in message.iter_parts()
    ]


def test_named_text_and_file_parts_are_encrypted_whole_and_the_rest_kept() -> None:
    scan = bytes(range(256)) * 4
    data = body(
        part(b"name", b"Jane Doe"),
        part(b"card", b"4111 1111 1111 1111", b"Content-Type: text/plain; charset=iso-8859-1\r\n"),
        part(b"passport_scan", scan, b"Content-Type: image/png\r\n", filename=b"scan.png"),
        part(b"photo", scan, b"Content-Type: image/jpeg\r\n", filename=b"me.jpg"),
    )
    out, count = rewrite(data)
    assert count == 2
    parts = parsed(out)
    assert [name for name, _ in parts] == ["name", "card", "passport_scan", "photo"]
    assert parts[0][1] == b"Jane Doe" and parts[3][1] == scan
    assert stand_in_decrypt(parts[1][1]) == b"4111 1111 1111 1111"
    assert stand_in_decrypt(parts[2][1]) == scan
    assert b"4111" not in out
    assert b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n" in out  # part headers kept
    assert out.endswith(
        part(b"photo", scan, b"Content-Type: image/jpeg\r\n", filename=b"me.jpg") + B + b"--\r\n"
    )


def test_nothing_named_leaves_the_body_identical() -> None:
    data = body(part(b"cards", b"x"), part(b"xcard", b"y"), end=b"")
    assert rewrite(data) == (data, 0)
    assert rewrite(body()) == (body(), 0)


def test_quoted_boundary_and_identity_transfer_encoding() -> None:
    data = body(part(b"card", b"1", b"Content-Transfer-Encoding: 8bit\r\n"))
    out, count = rewrite(data, 'multipart/form-data; charset=utf-8; boundary="----fleBoundary7MA4YWxk"')
    assert count == 1 and stand_in_decrypt(parsed(out)[0][1]) == b"1"


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        (body(part(b"card", b"1")), "multipart/form-data", "MalformedMultipartClientError"),
        (body(part(b"card", b"1")), CT + "; boundary=x", "MalformedContentTypeClientError"),
        (
            body(part(b"card", b"1")),
            "multipart/form-data; boundary=" + "a" * 71,
            "MalformedMultipartClientError",
        ),
        (b"preamble\r\n" + body(part(b"card", b"1")), CT, "MalformedMultipartClientError"),
        (body(part(b"card", b"1"), end=b"\r\nepilogue"), CT, "MalformedMultipartClientError"),
        (part(b"card", b"1"), CT, "MalformedMultipartClientError"),  # no close delimiter
        (part(b"card", b"1") + B + b"X\r\n" + B + b"--", CT, "MalformedMultipartClientError"),
        (
            B + b"\r\nContent-Disposition: form-data; name=card\r\n1\r\n" + B + b"--",
            CT,
            "MalformedMultipartClientError",
        ),
        (B + b"\r\n\r\n1\r\n" + B + b"--", CT, "MalformedMultipartClientError"),
        (body(part(b"card", b"1", b" folded\r\n")), CT, "MalformedMultipartClientError"),
        (
            body(part(b"card", b"1", b"X-Note: a\rContent-Disposition: form-data; name=x\r\n")),
            CT,
            "MalformedMultipartClientError",
        ),
        (
            body(part(b"card", b"1", b"Content-Disposition: form-data; name=x\r\n")),
            CT,
            "MalformedMultipartClientError",
        ),
        (
            body(B + b"\r\nContent-Disposition: attachment; name=card\r\n\r\n1\r\n"),
            CT,
            "MalformedMultipartClientError",
        ),
        (
            body(B + b"\r\nContent-Disposition: form-data; name=card; name*=UTF-8''x\r\n\r\n1\r\n"),
            CT,
            "MalformedMultipartClientError",
        ),
        (
            body(B + b'\r\nContent-Disposition: form-data; name="ca\\rd"\r\n\r\n1\r\n'),
            CT,
            "MalformedMultipartClientError",
        ),
        (
            body(B + b"\r\nContent-Disposition: form-data; filename=a\r\n\r\n1\r\n"),
            CT,
            "MalformedMultipartClientError",
        ),
        (
            body(part(b"card", b"MQ==", b"Content-Transfer-Encoding: base64\r\n")),
            CT,
            "UnsupportedTransferEncodingClientError",
        ),
        (body(part(b"card", b"1", b"Content-Length: 1\r\n")), CT, "MalformedMultipartClientError"),
    ],
)
def test_malformed_bodies_are_refused(data: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        rewrite(data, content_type)
    assert (refused.value.status, refused.value.reason) == (400, reason)


def test_size_and_count_limits() -> None:
    with pytest.raises(RequestRefused) as refused:
        rewrite(body(part(b"card", b"x" * 11)), limits=Limits(max_field_bytes=10))
    assert refused.value.reason == "FieldLengthLimitClientError"
    big_file = b"x" * (multipart.MAX_PROTECTED_FILE_BYTES + 1)
    with pytest.raises(RequestRefused) as refused:
        rewrite(body(part(b"passport", big_file, filename=b"p.pdf")))
    assert refused.value.reason == "FieldLengthLimitClientError"
    _, count = rewrite(body(part(b"passport", b"x" * 20_000, filename=b"p.pdf")))  # files: their own limit
    assert count == 1
    with pytest.raises(RequestRefused) as refused:
        rewrite(body(*(part(b"passport%d" % i, b"x") for i in range(11))))
    assert refused.value.reason == "FieldNumberLimitClientError"


# --- properties -------------------------------------------------------------------------------------------

PARTS = st.lists(
    st.tuples(
        st.sampled_from([b"card", b"cards", b"passport", b"passport_2", b"name", b"x[0]"]),
        st.binary(max_size=300),
        st.sampled_from(
            [b"", b"Content-Type: text/plain\r\n", b"Content-Type: application/octet-stream\r\n"]
        ),
        st.sampled_from([None, b"f.bin"]),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(PARTS, st.sampled_from([b"", b"\r\n"]))
def test_property_untouched_bytes_arrive_unchanged(parts: list, end: bytes) -> None:  # type: ignore[type-arg]
    assume(not any(B in content for _, content, _, _ in parts))  # the delimiter text anywhere is refused
    data = body(*(part(n, c, e, f) for n, c, e, f in parts), end=end)
    out, count = rewrite(data, limits=Limits(max_field_bytes=10**6))
    protected = [n for n, _, _, _ in parts if n == b"card" or n.startswith(b"passport")]
    assert count == len(protected)
    restored = (
        b"".join(
            part(n, stand_in_decrypt(c) if (n == b"card" or n.startswith(b"passport")) else c, e, f)
            for (n, _, e, f), (_, c) in zip(parts, parsed_raw(out), strict=True)
        )
        + B
        + b"--"
        + end
    )
    assert restored == data


def parsed_raw(data: bytes) -> list[tuple[str, bytes]]:
    """Each part's content, found by splitting on the delimiter (the contents never hold it here)."""
    if data.startswith(B + b"--"):
        return []
    chunks = data[len(B) :].split(b"\r\n" + B)[:-1]
    return [("", c.split(b"\r\n\r\n", 1)[1]) for c in chunks]


@settings(max_examples=200, deadline=None)
@given(PARTS, st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40))
def test_property_chunked_feeding_gives_the_same_body(parts: list, cuts: list[int]) -> None:  # type: ignore[type-arg]
    data = body(*(part(n, c, e, f) for n, c, e, f in parts))
    try:
        whole = rewrite(data, limits=Limits(max_field_bytes=10**6))
    except RequestRefused as refused:
        whole = refused.reason  # type: ignore[assignment]
    rewriter = multipart.MultipartRewriter(CT, PROFILE, stand_in_encrypt, Limits(max_field_bytes=10**6))
    out = bytearray()
    at = 0
    try:
        for size in cuts * (len(data) // sum(cuts) + 1):
            out += rewriter.feed(data[at : at + size])
            at += size
            if at >= len(data):
                break
        out += rewriter.close()
        chunked: object = (bytes(out), rewriter.encrypted)
    except RequestRefused as refused:
        chunked = refused.reason
    assert chunked == whole


def test_unprotected_content_is_released_before_the_part_ends() -> None:
    rewriter = multipart.MultipartRewriter(CT, PROFILE, stand_in_encrypt, Limits())
    head = B + b'\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n\r\n'
    first = rewriter.feed(head + b"x" * 1000)
    assert first == head + b"x" * (1000 - len(B) - 1)  # only a possible delimiter start is held back
    protected = rewriter.feed(b"\r\n" + B + b'\r\nContent-Disposition: form-data; name="card"\r\n\r\n4111')
    assert b"4111" not in protected and b"card" not in protected  # a protected part waits until it is whole
    rest = rewriter.feed(b"\r\n" + B + b"--") + rewriter.close()
    assert stand_in_decrypt(rest.split(b"\r\n\r\n")[1].split(b"\r\n")[0]) == b"4111"
