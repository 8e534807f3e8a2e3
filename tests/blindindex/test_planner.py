"""The planner against the specification's rule (2^N < X/2 and 2^N > sqrt(X)), and against beacons."""

from __future__ import annotations

import math
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindindex import is_safe, safe_lengths
from blindindex.beacon import derive_index_key, standard_beacon


def test_zip_codes_get_nine_to_fifteen_bits() -> None:
    """beacons.md's example, 100,000 zip codes: its rule gives 9..15 (its prose: 16, but 2^16 > 50,000)."""
    assert [p.bits for p in safe_lengths(100_000)] == list(range(9, 16))


def test_the_figures_per_length() -> None:
    (plan,) = [p for p in safe_lengths(100_000) if p.bits == 15]
    assert plan.values_per_beacon == pytest.approx(100_000 / 32768)
    assert plan.candidates_per_lookup == pytest.approx(1 + 99_999 / 32768)


@pytest.mark.parametrize("distinct", [1, 2, 4, 8, 16, 2**126, 2**200])
def test_nothing_is_safe(distinct: int) -> None:
    """Up to 8 values, 16 (2^N < 8 and 2^N > 4 leave no integer), and from 2^126 (N would pass 63)."""
    assert safe_lengths(distinct) == []


@pytest.mark.parametrize(("distinct", "bits"), [(9, [2]), (15, [2]), (17, [3]), (2**126 - 1, [63])])
def test_the_edges_of_the_window(distinct: int, bits: list[int]) -> None:
    assert [p.bits for p in safe_lengths(distinct)] == bits


@given(st.integers(1, 10**12))
def test_every_length_is_checked_by_the_rule(distinct: int) -> None:
    bits = {p.bits for p in safe_lengths(distinct)}
    for n in range(1, 64):
        by_floats = 2**n < distinct / 2 and 2**n > math.sqrt(distinct)
        if abs(2**n - math.sqrt(distinct)) > 1e-6:  # away from an exact square root floats agree
            assert (n in bits) == by_floats
        assert (n in bits) == is_safe(n, distinct)


@pytest.mark.parametrize("bad", [0, -5])
def test_no_distinct_values_is_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        safe_lengths(bad)


def test_candidates_per_lookup_predicts_real_beacons() -> None:
    """2,000 distinct values under a random root key, 8 bits: the mean number of values sharing a stored
    value's beacon is what candidates_per_lookup says (1 + 1999/256 = 8.8), not X/2^N (7.8)."""
    distinct, bits = 2000, 8
    (plan,) = [p for p in safe_lengths(distinct) if p.bits == bits]
    key = derive_index_key(secrets.token_bytes(32), "phone")
    beacons = [standard_beacon(key, bits, f"{n:010d}") for n in range(distinct)]
    sizes: dict[str, int] = {}
    for b in beacons:
        sizes[b] = sizes.get(b, 0) + 1
    measured = sum(sizes[b] for b in beacons) / distinct
    assert measured == pytest.approx(plan.candidates_per_lookup, rel=0.06)
    assert abs(measured - plan.candidates_per_lookup) < abs(measured - plan.values_per_beacon)
