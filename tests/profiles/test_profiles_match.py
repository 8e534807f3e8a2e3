"""Field patterns and profile selection, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiles import Action, load_config_dir, parse_pattern, select

EXAMPLES = Path(__file__).parents[2] / "profiles" / "examples"
NAME_CHARS = st.text(alphabet="abcXYZ019[]._-", min_size=1, max_size=12)


def test_exact_and_prefix_matching_is_case_sensitive() -> None:
    exact = parse_pattern("phone")
    assert exact.matches("phone")
    assert not exact.matches("Phone")
    assert not exact.matches("phone2")
    prefix = parse_pattern("card[")
    assert not prefix.matches("card[0]")
    star = parse_pattern("card*")
    assert star.matches("card") and star.matches("card[number]") and not star.matches("Card")


@given(NAME_CHARS, NAME_CHARS, st.booleans(), st.booleans(), st.text(alphabet="abcXYZ019[]._-", max_size=6))
def test_overlap_means_a_shared_name_exists(a: str, b: str, wa: bool, wb: bool, tail: str) -> None:
    pa, pb = parse_pattern(a + ("*" if wa else "")), parse_pattern(b + ("*" if wb else ""))
    assert pa.overlaps(pb) == pb.overlaps(pa)
    # the longer prefix (plus any tail when it is a wildcard) is a witness whenever they overlap
    for candidate in (pa.prefix, pb.prefix, pa.prefix + tail, pb.prefix + tail):
        if pa.matches(candidate) and pb.matches(candidate):
            assert pa.overlaps(pb)


@pytest.mark.parametrize(
    ("content_type", "action"),
    [
        ("application/x-www-form-urlencoded", Action.ENCRYPT),
        ("Application/X-WWW-Form-URLEncoded; charset=UTF-8", Action.ENCRYPT),
        ("application/json", Action.REJECT),
        (None, Action.REJECT),
    ],
)
def test_content_type_selection(content_type: str | None, action: Action) -> None:
    config = load_config_dir(EXAMPLES).only_config()
    decision = select(config, content_type, None)
    assert decision.action is action
    if action is Action.REJECT:
        assert decision.reason == "RejectedByContentTypeClientError"
