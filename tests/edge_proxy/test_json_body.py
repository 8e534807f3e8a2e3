"""Rewriting JSON bodies: selected values become base64 strings, other bytes are kept, bad JSON refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_proxy import Limits, RequestRefused
from fields import json_body
from fields.json_pointer import parse_pointer_pattern
from tests.bodies_helpers import profile, stand_in_decrypt, stand_in_encrypt

CARD = profile("/card/number", "/travellers/*/passport", "/payment/*")


def rewrite(body: bytes, prof=CARD, limits: Limits | None = None) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    return json_body.rewrite(body, prof, stand_in_encrypt, limits or Limits())


def test_selected_values_are_encrypted_and_the_rest_kept_byte_for_byte() -> None:
    body = (
        b'{ "name" : "Jane",\n  "card": {"number": "4111 1111\\u00e9", "exp": "12/29"},\n'
        b' "travellers": [{"passport": "X1"}, {"passport": 12.50, "age": 3}, {"x": 1}],\n'
        b' "payment": {"a": true, "b": null, "c": [1, {"d": 2}]}, "tail": [ ] }'
    )
    out, count = rewrite(body)
    assert count == 6
    doc = json.loads(out)
    assert stand_in_decrypt(doc["card"]["number"]) == "4111 1111é".encode()
    assert stand_in_decrypt(doc["travellers"][0]["passport"]) == b"X1"
    assert stand_in_decrypt(doc["travellers"][1]["passport"]) == b"12.50"  # the JSON text, as sent
    assert stand_in_decrypt(doc["payment"]["a"]) == b"true"
    assert stand_in_decrypt(doc["payment"]["b"]) == b"null"
    assert stand_in_decrypt(doc["payment"]["c"]) == b'[1, {"d": 2}]'
    assert out.startswith(b'{ "name" : "Jane",\n  "card": {"number": "')
    assert b'"exp": "12/29"},\n "travellers": [{"passport": "' in out
    assert out.endswith(b'"}, "tail": [ ] }')
    assert doc["travellers"][1]["age"] == 3 and doc["travellers"][2] == {"x": 1}


def test_nothing_selected_leaves_the_body_identical() -> None:
    body = b' [1, 2.0e5, "card", {"card": {"numbers": "x"}}] '
    assert rewrite(body) == (body, 0)


def test_escaped_keys_match_their_decoded_form() -> None:
    out, count = rewrite(b'{"card": {"n\\u0075mber": "4111"}}')
    assert count == 1
    assert stand_in_decrypt(json.loads(out)["card"]["number"]) == b"4111"


def test_pointer_escapes_and_array_indices() -> None:
    prof = profile("/a~1b/~0c", "/list/1")
    out, count = rewrite(b'{"a/b": {"~c": "s"}, "list": ["x", "y"]}', prof)
    assert count == 2
    doc = json.loads(out)
    assert stand_in_decrypt(doc["a/b"]["~c"]) == b"s"
    assert doc["list"][0] == "x" and stand_in_decrypt(doc["list"][1]) == b"y"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "InvalidJsonClientError"),
        (b'{"card": {"number": "4111"}', "InvalidJsonClientError"),
        (b'{"card": {"number": "4111"}} x', "InvalidJsonClientError"),
        (b'{"card": {"number": NaN}}', "InvalidJsonClientError"),
        (b'{"card": {"number": 0123}}', "InvalidJsonClientError"),
        (b'{"card": {"number": "41\n11"}}', "InvalidJsonClientError"),
        (b"{'card': 1}", "InvalidJsonClientError"),
        (b'{"card": [1,]}', "InvalidJsonClientError"),
        (b'\xef\xbb\xbf{"card": 1}', "InvalidJsonClientError"),
        (b'{"card": "\xff"}', "InvalidJsonClientError"),
        (b'{"card": {"number": "\\ud800"}}', "InvalidJsonClientError"),
        (b'{"card": {"number": "1", "number": "2"}}', "DuplicateJsonKeyClientError"),
        (b'{"other": {"a": 1, "\\u0061": 2}}', "DuplicateJsonKeyClientError"),
        (b"[" * 65 + b"]" * 65, "JsonDepthLimitClientError"),
    ],
)
def test_invalid_bodies_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        rewrite(body)
    assert refused.value.status == 400
    assert refused.value.reason == reason
    assert b"4111" not in refused.value.detail.encode()


def test_depth_at_the_limit_passes() -> None:
    body = b"[" * 64 + b"]" * 64
    assert rewrite(body) == (body, 0)


def test_limits_on_count_and_size() -> None:
    many = json.dumps({"travellers": [{"passport": str(i)} for i in range(11)]}).encode()
    with pytest.raises(RequestRefused) as refused:
        rewrite(many)
    assert refused.value.reason == "FieldNumberLimitClientError"
    big = json.dumps({"card": {"number": "x" * 20}}).encode()
    with pytest.raises(RequestRefused) as refused:
        rewrite(big, limits=Limits(max_field_bytes=19))
    assert refused.value.reason == "FieldLengthLimitClientError"


# --- properties -------------------------------------------------------------------------------------------

KEYS = st.sampled_from(["card", "number", "passport", "travellers", "payment", "x", "é", "a/b"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)
POINTERS = st.lists(
    st.sampled_from(["card", "number", "passport", "travellers", "*", "0", "1"]), min_size=1, max_size=3
)


def _values(doc: object, path: tuple[str | int, ...] = ()):  # type: ignore[no-untyped-def]
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _values(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _values(v, (*path, i))


@settings(max_examples=300, deadline=None)
@given(DOCS, POINTERS, st.sampled_from([None, 2, "\t"]))
def test_property_untouched_values_arrive_unchanged(doc: object, segments: list[str], indent: object) -> None:
    pointer = parse_pointer_pattern("/" + "/".join(segments))
    prof = profile(pointer.text)
    body = json.dumps(doc, indent=indent, ensure_ascii=False).encode()  # type: ignore[arg-type]
    out, count = json_body.rewrite(body, prof, stand_in_encrypt, Limits(max_encrypted_fields=10**6))
    after = json.loads(out)
    selected = [(p, v) for p, v in _values(doc) if pointer.matches(p)]
    assert count == len(selected)
    got = dict(_values(after))
    for path, value in selected:
        plaintext = stand_in_decrypt(got[path])
        assert json.loads(plaintext) == value if not isinstance(value, str) else plaintext == value.encode()
    for path, value in _values(doc):
        if not any(pointer.matches(path[:n]) for n in range(len(path) + 1)) and not isinstance(
            value, (dict, list)
        ):
            assert got[path] == value
    if count == 0:
        assert out == body
