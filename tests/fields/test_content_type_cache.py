"""strict_content_type is cached for the answers it accepts; a refusal is never remembered."""

from __future__ import annotations

import pytest

from fields.body_format import BodyFormat
from fields.content_type import strict_content_type
from fields.errors import Reason, RequestRefused


@pytest.mark.parametrize("attempt", range(3))
def test_a_refused_content_type_is_refused_every_time(attempt: int) -> None:
    for value, reason in (
        ("application/x-www-form-urlencoded; charset=utf-7", Reason.UNSUPPORTED_CHARSET),
        ("application/x-www-form-urlencoded; boundary=x", Reason.MALFORMED_CONTENT_TYPE),
        ('application/json; charset="utf-8"; charset=utf-8', Reason.MALFORMED_CONTENT_TYPE),
    ):
        body_format = BodyFormat.JSON if value.startswith("application/json") else BodyFormat.URL_ENCODED
        with pytest.raises(RequestRefused) as refused:
            strict_content_type(value, body_format)
        assert refused.value.reason is reason


def test_the_same_value_is_judged_per_format() -> None:
    value = "multipart/form-data; boundary=abc"
    assert strict_content_type(value, BodyFormat.MULTIPART).param("boundary") == "abc"
    with pytest.raises(RequestRefused):
        strict_content_type(value, BodyFormat.URL_ENCODED)  # the cached multipart answer does not leak
    assert strict_content_type("application/x-www-form-urlencoded; Charset=UTF-8", BodyFormat.URL_ENCODED)
