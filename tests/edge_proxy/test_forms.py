"""Rewriting form bodies: only protected values change, and every parser recovers the base64 text."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from edge_proxy import Limits, RequestRefused
from fields import forms
from profiles import EncryptionEntity, Profile, load_config_dir

EXAMPLES = Path(__file__).parents[2] / "profiles" / "examples"
PROFILE: Profile = load_config_dir(EXAMPLES).only_config().content_type_profiles[0].profile  # type: ignore[assignment]


def fake_encrypt(value: bytes, entity: EncryptionEntity) -> bytes:
    """A stand-in cipher for pure rewriting tests: base64 with all three special characters."""
    return base64.b64encode(b"\xfb\xff\xfe" + value)


def test_only_the_protected_value_changes() -> None:
    body = b"name=Jane+Doe&email=j%40example.org&phone=404-555-0150&note="
    out, count = forms.rewrite(body, PROFILE, fake_encrypt, Limits())
    assert count == 1
    expected = base64.b64encode(b"\xfb\xff\xfe404-555-0150").decode()
    assert out.startswith(b"name=Jane+Doe&email=j%40example.org&phone=")
    assert out.endswith(b"&note=")
    assert dict(parse_qsl(out.decode()))["phone"] == expected
    assert b"404-555-0150" not in out


def test_names_are_matched_decoded_and_every_duplicate_is_encrypted() -> None:
    body = b"ph%6Fne=1&phone=2&p+hone=3&phone"
    out, count = forms.rewrite(body, PROFILE, fake_encrypt, Limits())
    assert count == 3
    pairs = parse_qsl(out.decode(), keep_blank_values=True)
    assert [v for k, v in pairs if k == "phone"] == [
        base64.b64encode(b"\xfb\xff\xfe" + v).decode() for v in (b"1", b"2", b"")
    ]
    assert ("p hone", "3") in pairs


def test_values_are_encrypted_as_raw_bytes() -> None:
    out, _ = forms.rewrite(b"phone=%FF%00+x", PROFILE, fake_encrypt, Limits())
    value = dict(parse_qsl(out.decode()))["phone"]
    assert base64.b64decode(value) == b"\xfb\xff\xfe\xff\x00 x"


def test_limits_and_malformed_input() -> None:
    with pytest.raises(RequestRefused) as info:
        forms.rewrite(b"phone=" + b"1" * 17, PROFILE, fake_encrypt, Limits(max_field_bytes=16))
    assert (info.value.status, info.value.reason) == (400, "FieldLengthLimitClientError")
    with pytest.raises(RequestRefused) as info:
        forms.rewrite(b"phone=1&phone=2&phone=3", PROFILE, fake_encrypt, Limits(max_encrypted_fields=2))
    assert info.value.reason == "FieldNumberLimitClientError"
    with pytest.raises(RequestRefused) as info:
        forms.rewrite(b"phone=%G1", PROFILE, fake_encrypt, Limits())
    assert info.value.reason == "MalformedInputClientError"


@given(
    st.lists(
        st.tuples(st.text(alphabet="abnmeo", min_size=0, max_size=6), st.binary(max_size=20)), max_size=8
    )
)
def test_property_untouched_segments_arrive_byte_for_byte(pairs: list[tuple[str, bytes]]) -> None:
    from urllib.parse import quote_from_bytes

    segments = [name.encode() + b"=" + quote_from_bytes(value).encode() for name, value in pairs]
    body = b"&".join(segments)
    try:
        out, _ = forms.rewrite(body, PROFILE, fake_encrypt, Limits(max_encrypted_fields=100))
    except RequestRefused:
        return
    for before, after in zip(body.split(b"&"), out.split(b"&"), strict=True):
        if before.partition(b"=")[0] != b"phone":
            assert before == after


def test_base64_specials_are_percent_encoded() -> None:
    out, _ = forms.rewrite(b"phone=%FB%EF%FF", PROFILE, fake_encrypt, Limits())
    expected = base64.b64encode(b"\xfb\xff\xfe\xfb\xef\xff").decode()
    assert "+" in expected and "/" in expected
    value = out.partition(b"=")[2]
    assert b"+" not in value and b"/" not in value and b"=" not in value
    assert MultiDict(parse_qsl(out.decode()))["phone"] == expected
