"""Errors of the message-format module.

FormatError
├── MalformedHeader    the bytes are not a readable ESDK header; the message says where it broke
└── TooManyDataKeys    the header names more encrypted data keys than the reader accepts
"""

from __future__ import annotations


class FormatError(ValueError):
    """Root of the message-format errors; messages describe header bytes, never keys or plaintext."""


class MalformedHeader(FormatError):
    """The bytes are not a readable ESDK header; the message says where it broke."""


class TooManyDataKeys(FormatError):
    """The header names more encrypted data keys than the reader accepts (checked before reading them)."""

    def __init__(self, count: int, limit: int, suite: int) -> None:
        self.count = count
        self.limit = limit
        self.suite = suite
        super().__init__(f"message has {count} encrypted data keys; at most {limit} accepted")
