"""Keystore errors.

KeystoreError
├── KeystoreConfigError   the keystore file or an entry in it is unusable
├── UnknownKey            no entry for this (provider id, key name)
├── BackendUnavailable    the backend holding the key cannot be reached or opened
└── UnwrapError           the backend could not unwrap this encrypted data key (opaque on purpose)
"""

from __future__ import annotations


class KeystoreError(Exception):
    """Root of the keystore's errors."""


class KeystoreConfigError(KeystoreError, ValueError):
    """The keystore file or an entry in it is unusable."""


class UnknownKey(KeystoreError, LookupError):
    """No keystore entry for this (provider id, key name)."""

    def __init__(self, provider_id: str, key_name: str) -> None:
        self.provider_id = provider_id
        self.key_name = key_name
        super().__init__(f"no keystore entry for provider {provider_id!r} key {key_name!r}")


class BackendUnavailable(KeystoreError):
    """The backend holding the key cannot be reached or opened."""


class UnwrapError(KeystoreError):
    """The encrypted data key could not be unwrapped (wrong key, corrupt or tampered)."""
