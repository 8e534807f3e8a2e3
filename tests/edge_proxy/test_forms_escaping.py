"""The fast percent-encoding of encrypted form values gives exactly what urllib's quote gives, and the fast
decoding of a form component (reveal reads encrypted values with it) exactly what unquote_to_bytes gives."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fields.errors import RequestRefused
from fields.forms import _decode, _escape_value


@given(st.binary(max_size=2000))
def test_base64_values_escape_exactly_as_quote_does(raw: bytes) -> None:
    text = base64.b64encode(raw)
    assert _escape_value(text) == quote(text, safe="").encode("ascii")


@given(st.binary(max_size=200))
def test_any_other_bytes_fall_back_to_quote(text: bytes) -> None:
    assert _escape_value(text) == quote(text, safe="").encode("ascii")


_PIECES = st.sampled_from([b"%", b"+", b"a", b"2", b"F", b"g", b"%2B", b"%zz", b"%4", b"\xff", b"=", b" "])


@given(st.one_of(st.binary(max_size=64), st.lists(_PIECES, max_size=12).map(b"".join)))
def test_decoding_a_component_is_unquote_after_plus(component: bytes) -> None:
    """`_decode` (with its shortcut for a component without `%`) reads every component as
    unquote_to_bytes does after `+` -> space, and refuses one a form parser could read differently."""
    if re.search(rb"%(?![0-9A-Fa-f]{2})", component):
        with pytest.raises(RequestRefused):
            _decode(component, "value")
    else:
        assert _decode(component, "value") == unquote_to_bytes(component.replace(b"+", b" "))


@given(st.binary(max_size=2000))
def test_an_escaped_base64_value_decodes_exactly_as_unquote_does(raw: bytes) -> None:
    escaped = _escape_value(base64.b64encode(raw))
    assert _decode(escaped, "value") == unquote_to_bytes(escaped) == base64.b64encode(raw)


_VALID_PIECES = [b"%2B", b"%2F", b"%3D", b"%2b", b"%3d", b"%25", b"%41", b"+", b"a", b"Z", b"9", b"/", b"="]
_FORM_BYTES = st.lists(st.sampled_from(_VALID_PIECES))


@given(_FORM_BYTES)
def test_any_other_valid_value_decodes_as_unquote_does(pieces: list[bytes]) -> None:
    component = b"".join(pieces)  # valid escapes only: a bad one is refused before decoding
    assert _decode(component, "value") == unquote_to_bytes(component.replace(b"+", b" "))
