"""Errors of the blind-index package.

BlindIndexError                 the root: anything this package refuses
├── NormalizeError              (ValueError) a value the index's normalizer cannot normalize
├── UnknownNormalizer           (ValueError) a normalizer name (or version) that does not exist
├── IndexKeysError              (ValueError) the index-keys file, or one of its entries, is unusable
├── UnknownIndexKey             (KeyError) no [[index_key]] with that name
└── TokenError                  a PKCS#11 token holding index keys cannot do what was asked
    ├── TokenNotFound           no token with that label in the module (or the module does not load)
    ├── TokenLoginFailed        the PIN is wrong, locked, or not in the environment
    └── IndexKeyMissing         the token holds no secret key with the index's label (or several)
"""

from __future__ import annotations


class BlindIndexError(Exception):
    """Anything the blind-index package refuses; the message says what to do and never holds a value."""


class NormalizeError(BlindIndexError, ValueError):
    """The normalizer refuses this value (e.g. `digits` on a value with no digit)."""


class UnknownNormalizer(BlindIndexError, ValueError):
    """No normalizer of that name and version."""


class IndexKeysError(BlindIndexError, ValueError):
    """The index-keys file or one of its entries is unusable; the message names the file."""


class UnknownIndexKey(BlindIndexError, KeyError):
    """No [[index_key]] with that name in the index-keys file."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class TokenError(BlindIndexError):
    """A PKCS#11 token holding index keys cannot do what was asked."""


class TokenNotFound(TokenError):
    """No token with that label (or the PKCS#11 module does not load)."""


class TokenLoginFailed(TokenError):
    """The user PIN is incorrect, locked, or missing from the environment."""


class IndexKeyMissing(TokenError):
    """The token holds no secret key (or more than one) with the index's label."""
