"""Normalizers: what a value becomes before its beacon is computed, so equal-meaning inputs match.

A small, versioned, documented set (docs/search.md has the table). A profile names one by `name` or
`name/version`; a bare name is version 1 for ever: a later version is added beside it under a new
number, so no existing profile's beacons change under it. Unknown names or versions are refused when
the configuration loads.

- none/1: the value's exact characters; refuses nothing.
- digits/1: NFKC, then the decimal digits of any script written as 0-9, the rest dropped; refuses a
  value with no digit.
- casefold/1: NFKC, Unicode case fold, NFKC again, white space trimmed at both ends; refuses nothing.
- email/1: casefold/1, keeping `+tags` and dots (providers differ on both); refuses a value that is not
  text@text.

Pure and stdlib-only: profiles imports this module to check names, so it must never reach key code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from .errors import NormalizeError, UnknownNormalizer


@dataclass(frozen=True, slots=True)
class Normalizer:
    """One normalizer version; `apply(value)` returns the normalized text or raises NormalizeError."""

    name: str
    version: int
    summary: str
    apply: Callable[[str], str]

    @property
    def id(self) -> str:
        """`name/version`, the canonical spelling (e.g. `digits/1`)."""
        return f"{self.name}/{self.version}"


def _none_v1(value: str) -> str:
    return value


def _digits_v1(value: str) -> str:
    # NFKC first (fullwidth digits, superscripts); then every decimal digit (Unicode Nd) of any script
    # becomes its ASCII digit, so "٠١٢" and "012" match; everything else (+, -, spaces, letters) is dropped
    text = unicodedata.normalize("NFKC", value)
    digits = "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())
    if not digits:
        raise NormalizeError("the value has no digit (normalizer digits/1)")
    return digits


def _casefold_v1(value: str) -> str:
    # NFKC_Casefold's shape: normalize, fold, normalize again (folding can un-normalize), then trim
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return folded.strip()


def _email_v1(value: str) -> str:
    folded = _casefold_v1(value)
    local, at, domain = folded.rpartition("@")
    if not (at and local and domain):
        raise NormalizeError("the value is not an e-mail address: no text@text (normalizer email/1)")
    return folded


_ALL = (
    Normalizer("none", 1, "the exact value, unchanged", _none_v1),
    Normalizer("digits", 1, "NFKC, then the decimal digits only (0-9); refuses a value without", _digits_v1),
    Normalizer("casefold", 1, "NFKC, Unicode case fold, NFKC, trimmed at both ends", _casefold_v1),
    Normalizer(
        "email", 1, "casefold/1, and refuses a value without text@text; +tags and dots are kept", _email_v1
    ),
)
NORMALIZERS: dict[str, Normalizer] = {n.id: n for n in _ALL}
"""Every normalizer by canonical id (`name/version`)."""


def get_normalizer(spec: str) -> Normalizer:
    """The normalizer `spec` names: `name/version`, or a bare `name` (version 1); else UnknownNormalizer."""
    if not isinstance(spec, str):
        raise UnknownNormalizer(f"a normalizer is named by a string, not {type(spec).__name__}")
    key = spec if "/" in spec else f"{spec}/1"
    try:
        return NORMALIZERS[key]
    except KeyError:
        known = ", ".join(sorted(NORMALIZERS))
        raise UnknownNormalizer(f"unknown normalizer {spec!r}; known: {known} (a bare name is /1)") from None


def normalize(spec: str, value: str) -> str:
    """`value` normalized by the normalizer `spec` names (NormalizeError, UnknownNormalizer)."""
    return get_normalizer(spec).apply(value)
