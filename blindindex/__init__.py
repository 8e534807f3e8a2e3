"""Blind indexes: the AWS Database Encryption SDK's standard beacon of a protected value, and its keys.

The package root is pure (no key is read, nothing touches a token): normalizers, the beacon function,
the length planner and the errors. Profiles import blindindex.normalizers to check names. The keys live in
`blindindex.keys` (`IndexKeys`, the object the edge calls) and are created by `blindindex.tooling`.

    from blindindex import normalize
    from blindindex.keys import IndexKeys

    keys = IndexKeys.load("index-keys.toml")
    keys.beacon("pii-2026", "phone", 16, normalize("digits", "+1 404-555-0150"))
"""

from .beacon import MAX_BITS, MIN_BITS, basic_hash, check_bits, derive_index_key, hex_length, standard_beacon
from .errors import (
    BlindIndexError,
    IndexKeyMissing,
    IndexKeysError,
    NormalizeError,
    TokenError,
    TokenLoginFailed,
    TokenNotFound,
    UnknownIndexKey,
    UnknownNormalizer,
)
from .normalizers import NORMALIZERS, Normalizer, get_normalizer, normalize
from .planner import LengthPlan, is_safe, safe_lengths

__all__ = [
    "MAX_BITS",
    "MIN_BITS",
    "NORMALIZERS",
    "BlindIndexError",
    "IndexKeyMissing",
    "IndexKeysError",
    "LengthPlan",
    "NormalizeError",
    "Normalizer",
    "TokenError",
    "TokenLoginFailed",
    "TokenNotFound",
    "UnknownIndexKey",
    "UnknownNormalizer",
    "basic_hash",
    "check_bits",
    "derive_index_key",
    "get_normalizer",
    "hex_length",
    "is_safe",
    "normalize",
    "safe_lengths",
    "standard_beacon",
]
