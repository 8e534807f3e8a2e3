"""The normalizers: each version's documented behaviour, idempotence, and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindindex import NORMALIZERS, NormalizeError, UnknownNormalizer, get_normalizer, normalize


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("none", " Jane ", " Jane "),
        ("digits", "+1 (404) 555-0150", "14045550150"),
        ("digits/1", "４０４-５５５", "404555"),  # fullwidth digits, NFKC
        ("digits", "٤٠٤ ٥٥٥", "404555"),  # Arabic-Indic digits
        ("casefold", "  Straße\t", "strasse"),
        ("casefold", "ＡＢＣ", "abc"),
        ("email", " Jane.Doe+News@Example.COM\n", "jane.doe+news@example.com"),  # + tag and dots kept
    ],
)
def test_documented_behaviour(spec: str, value: str, expected: str) -> None:
    assert normalize(spec, value) == expected


def test_a_bare_name_is_version_one() -> None:
    for name in ("none", "digits", "casefold", "email"):
        assert get_normalizer(name) is get_normalizer(f"{name}/1")
        assert get_normalizer(name).id == f"{name}/1"


@pytest.mark.parametrize("spec", ["digits/2", "lower", "", "Digits", "digits/"])
def test_unknown_names_and_versions_are_refused(spec: str) -> None:
    with pytest.raises(UnknownNormalizer, match="known: casefold/1, digits/1, email/1, none/1"):
        get_normalizer(spec)


@pytest.mark.parametrize("value", ["", "n/a", "call me"])
def test_digits_refuses_a_value_without_digits(value: str) -> None:
    with pytest.raises(NormalizeError, match="no digit"):
        normalize("digits", value)


@pytest.mark.parametrize("value", ["", "jane", "@example.com", "jane@", " @ "])
def test_email_refuses_what_is_not_text_at_text(value: str) -> None:
    with pytest.raises(NormalizeError, match="e-mail"):
        normalize("email", value)


def test_the_refusal_never_repeats_the_value() -> None:
    with pytest.raises(NormalizeError) as caught:
        normalize("email", "secret-value-no-at")
    assert "secret-value" not in str(caught.value)


@given(spec=st.sampled_from(sorted(NORMALIZERS)), value=st.text(max_size=40))
def test_every_normalizer_is_idempotent(spec: str, value: str) -> None:
    try:
        once = normalize(spec, value)
    except NormalizeError:
        return
    assert normalize(spec, once) == once


@given(st.text(max_size=40))
def test_digits_output_is_ascii_digits(value: str) -> None:
    try:
        out = normalize("digits", value)
    except NormalizeError:
        return
    assert out and all(c in "0123456789" for c in out)


@given(st.text(max_size=40))
def test_casefold_and_email_ignore_surrounding_space(value: str) -> None:
    assert normalize("casefold", f" \t{value}\n ") == normalize("casefold", value)


@pytest.mark.parametrize(("a", "b"), [("JANE", "jane"), ("Straße", "STRASSE"), ("ǅ", "ǆ"), ("Ω", "ω")])
def test_casefold_ignores_case(a: str, b: str) -> None:
    assert normalize("casefold", a) == normalize("casefold", b)
