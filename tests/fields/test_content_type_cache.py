"""strict_content_type is cached for the answers it accepts; a refusal is never remembered."""

from __future__ import annotations

import pytest

from fields.body_format import BodyFormat
from fields.content_type import _strict_content_type, strict_content_type
from fields.errors import Reason, RequestRefused


def test_a_refused_content_type_is_refused_every_time_and_never_cached() -> None:
    cached = _strict_content_type.cache_info().currsize
    for _attempt in range(3):
        for value, reason in (
            ("application/x-www-form-urlencoded; charset=utf-7", Reason.UNSUPPORTED_CHARSET),
            ("application/x-www-form-urlencoded; boundary=x", Reason.MALFORMED_CONTENT_TYPE),
            ('application/json; charset="utf-8"; charset=utf-8', Reason.MALFORMED_CONTENT_TYPE),
        ):
            json = value.startswith("application/json")
            body_format = BodyFormat.JSON if json else BodyFormat.URL_ENCODED
            with pytest.raises(RequestRefused) as refused:
                strict_content_type(value, body_format)
            assert refused.value.reason is reason
    assert _strict_content_type.cache_info().currsize == cached  # the cache holds accepted answers only
    for _attempt in range(2):  # and it is the cache in use: an accepted value asked again is a hit
        strict_content_type("application/json; charset=utf-8", BodyFormat.JSON)
    hits = _strict_content_type.cache_info().hits
    strict_content_type("application/json; charset=utf-8", BodyFormat.JSON)
    assert _strict_content_type.cache_info().hits == hits + 1


def test_the_same_value_is_judged_per_format() -> None:
    value = "multipart/form-data; boundary=abc"
    assert strict_content_type(value, BodyFormat.MULTIPART).param("boundary") == "abc"
    with pytest.raises(RequestRefused):
        strict_content_type(value, BodyFormat.URL_ENCODED)  # the cached multipart answer does not leak
    assert strict_content_type("application/x-www-form-urlencoded; Charset=UTF-8", BodyFormat.URL_ENCODED)
