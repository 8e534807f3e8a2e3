"""Decryptor errors.

DecryptorError
├── DecryptorConfigError   an environment variable or flag configuring the decryptor is unusable
├── BadRequest             an event asks for something the decryptor does not do (answered with a reason)
│   └── NotIndexed         a match names a field the config (FLE_CONFIG) has no index on
└── DecryptError           one value could not be decrypted; `reason` (a code) is what the caller sees
    └── PolicyRefused      the message's header breaks the policy (suite, data keys, size); nothing unwrapped

Callers see reason codes only (reasons.py); the messages of these errors go to the audit line or the log.
"""

from __future__ import annotations

from .reasons import Reason


class DecryptorError(Exception):
    """Root of the decryptor's errors."""


class DecryptorConfigError(DecryptorError, ValueError):
    """An environment variable or flag configuring the decryptor is unusable."""


class BadRequest(DecryptorError, ValueError):
    """An event asks for something the decryptor does not do; the message says what is expected."""


class NotIndexed(BadRequest):
    """A match names a field that the decryptor's config (FLE_CONFIG) has no blind index on."""


class DecryptError(DecryptorError):
    """One value could not be decrypted; `reason` (a code) is safe to show, the rest is for the audit only.

    `message` says what went wrong in words (it may name keys, suites, backends); `detail` adds the
    underlying error. `audit_detail` joins them for the audit line.
    """

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        key: tuple[str, str] | None = None,
        suite: int | None = None,
        detail: str = "",
    ) -> None:
        self.reason = reason
        self.message = message
        self.key = key  # (provider id, key name) the message names, when its header could be read
        self.suite = suite
        self.detail = detail
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        # crosses from a decrypt worker process to the parent (processes.py) with every attribute kept
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    @property
    def audit_detail(self) -> str:
        return f"{self.message}; {self.detail}" if self.detail else self.message


def _restore(cls: type[DecryptError], args: tuple[object, ...], state: dict[str, object]) -> DecryptError:
    error = Exception.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class PolicyRefused(DecryptError):
    """The message's header breaks the policy (suite, data keys, size); nothing was unwrapped."""

    def __init__(self, message: str, *, key: tuple[str, str] | None = None, suite: int | None = None) -> None:
        super().__init__(Reason.POLICY_REFUSED, message, key=key, suite=suite)
