"""The fast percent-encoding of encrypted form values gives exactly what urllib's quote gives."""

from __future__ import annotations

import base64
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from fields.forms import _escape_value


@given(st.binary(max_size=2000))
def test_base64_values_escape_exactly_as_quote_does(raw: bytes) -> None:
    text = base64.b64encode(raw)
    assert _escape_value(text) == quote(text, safe="").encode("ascii")


@given(st.binary(max_size=200))
def test_any_other_bytes_fall_back_to_quote(text: bytes) -> None:
    assert _escape_value(text) == quote(text, safe="").encode("ascii")
