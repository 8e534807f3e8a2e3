"""The fast percent-encoding of encrypted form values gives exactly what urllib's quote gives, and the fast
decoding of such a value (reveal reads them) exactly what urllib's unquote_to_bytes gives."""

from __future__ import annotations

import base64
from urllib.parse import quote, unquote_to_bytes

from hypothesis import given
from hypothesis import strategies as st

from fields.forms import _decode, _escape_value


@given(st.binary(max_size=2000))
def test_base64_values_escape_exactly_as_quote_does(raw: bytes) -> None:
    text = base64.b64encode(raw)
    assert _escape_value(text) == quote(text, safe="").encode("ascii")


@given(st.binary(max_size=200))
def test_any_other_bytes_fall_back_to_quote(text: bytes) -> None:
    assert _escape_value(text) == quote(text, safe="").encode("ascii")


@given(st.binary(max_size=2000))
def test_an_escaped_base64_value_decodes_exactly_as_unquote_does(raw: bytes) -> None:
    escaped = _escape_value(base64.b64encode(raw))
    assert _decode(escaped, "value") == unquote_to_bytes(escaped) == base64.b64encode(raw)


_PIECES = [b"%2B", b"%2F", b"%3D", b"%2b", b"%3d", b"%25", b"%41", b"+", b"a", b"Z", b"9", b"/", b"="]
_FORM_BYTES = st.lists(st.sampled_from(_PIECES))


@given(_FORM_BYTES)
def test_any_other_valid_value_decodes_as_unquote_does(pieces: list[bytes]) -> None:
    component = b"".join(pieces)  # valid escapes only: a bad one is refused before decoding
    assert _decode(component, "value") == unquote_to_bytes(component.replace(b"+", b" "))
