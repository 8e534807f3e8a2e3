"""Private-key backends behind one interface: unwrap an encrypted data key for (provider id, key name).

Never imported by the edge proxy or the origin (see tests/security/test_boundaries.py).
"""

from .base import KeyBackend
from .errors import BackendUnavailable, KeystoreConfigError, KeystoreError, UnknownKey, UnwrapError
from .keystore import KEYSTORE_ENV, KeyEntry, Keystore
from .wrapping import DEFAULT_WRAPPING, Wrapping

__all__ = [
    "DEFAULT_WRAPPING",
    "KEYSTORE_ENV",
    "BackendUnavailable",
    "KeyBackend",
    "KeyEntry",
    "Keystore",
    "KeystoreConfigError",
    "KeystoreError",
    "UnknownKey",
    "UnwrapError",
    "Wrapping",
]
