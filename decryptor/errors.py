"""Decryptor errors.

DecryptorError
├── DecryptorConfigError   an environment variable or flag configuring the decryptor is unusable
├── BadRequest             an event asks for something the decryptor does not do (answered with a reason)
└── DecryptError           one value could not be decrypted; `reason` is safe to show to the caller
    └── PolicyRefused      the message's header breaks the policy (suite, data keys, size); nothing unwrapped
"""

from __future__ import annotations


class DecryptorError(Exception):
    """Root of the decryptor's errors."""


class DecryptorConfigError(DecryptorError, ValueError):
    """An environment variable or flag configuring the decryptor is unusable."""


class BadRequest(DecryptorError, ValueError):
    """An event asks for something the decryptor does not do; the message says what is expected."""


class DecryptError(DecryptorError):
    """One value could not be decrypted; `reason` is safe to show, `detail` goes to the audit log only."""

    def __init__(
        self, reason: str, *, key: tuple[str, str] | None = None, suite: int | None = None, detail: str = ""
    ) -> None:
        self.reason = reason
        self.key = key  # (provider id, key name) the message names, when its header could be read
        self.suite = suite
        self.detail = detail
        super().__init__(reason)


class PolicyRefused(DecryptError):
    """The message's header breaks the policy (suite, data keys, size); nothing was unwrapped."""
