"""Choosing a beacon length: the AWS Database Encryption SDK's rule, and what each length costs.

beacons.md, "Beacon Length": for a field with X distinct values choose N bits such that 2^N < X/2 (every
beacon is shared by values: collisions are guaranteed) and 2^N > sqrt(X) (too few bits and a lookup
approaches a scan). Both inequalities are strict; they are tested here in integers (2 * 2^N < X and
4^N > X), so no rounding decides a boundary.

Two figures per length:
- `values_per_beacon` = X / 2^N, the specification's own figure ("with 16 bits, on average, each beacon
  will map to 1.5 zip codes");
- `candidates_per_lookup` = 1 + (X - 1) / 2^N, the expected number of distinct values a lookup of a value
  that IS stored gets back: the value itself plus every other value whose beacon collides with it (each
  of the other X - 1 with probability 2^-N). This is what a lookup costs; times the records per value,
  the records it reads.
The specification's prose gives "between 9 and 16 bits" for 100,000 zip codes; its rule gives 9 to 15
(2^16 = 65,536 is not below 50,000). We follow the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from .beacon import MAX_BITS, MIN_BITS


@dataclass(frozen=True, slots=True)
class LengthPlan:
    """One safe beacon length for X distinct values and what it costs a lookup."""

    bits: int
    distinct: int  # X

    @property
    def values_per_beacon(self) -> float:
        """X / 2^N: distinct values per beacon value, the specification's figure."""
        return self.distinct / float(1 << self.bits)

    @property
    def candidates_per_lookup(self) -> float:
        """1 + (X - 1) / 2^N: distinct values a lookup of a stored value returns, its own included."""
        return 1 + (self.distinct - 1) / float(1 << self.bits)


def is_safe(bits: int, distinct: int) -> bool:
    """True when 2^bits < distinct/2 and 2^bits > sqrt(distinct) (and bits is 1 to 63)."""
    if distinct < 1 or not MIN_BITS <= bits <= MAX_BITS:
        return False
    return (2 << bits) < distinct and (1 << (2 * bits)) > distinct


def safe_lengths(distinct: int) -> list[LengthPlan]:
    """Every safe length for `distinct` values, shortest first; empty when none is: X up to 8, X = 16,
    and X from 2^126 (the window would start above 63 bits)."""
    if isinstance(distinct, bool) or not isinstance(distinct, int):
        raise TypeError(f"the number of distinct values must be an integer, not {type(distinct).__name__}")
    if distinct < 1:
        raise ValueError(f"the number of distinct values must be at least 1, not {distinct}")
    return [LengthPlan(bits, distinct) for bits in range(MIN_BITS, MAX_BITS + 1) if is_safe(bits, distinct)]
