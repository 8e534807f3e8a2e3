"""Why reveal refuses a request, and why a routes file is unusable.

RevealError
├── RoutesError      the routes file cannot be used (names the file, the entry and the field)
└── RevealRefused    the request is answered by reveal with `status` and a reason code, never forwarded
"""

from __future__ import annotations


class RevealError(Exception):
    """Root of reveal's own errors."""


class RoutesError(RevealError, ValueError):
    """The routes file is unusable; the message names the file, the entry and the field."""


class RevealRefused(RevealError):
    """Answered with `status`; `reason` is the code the caller sees, `detail` goes to the log only."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        self.status = status
        self.reason = reason
        self.detail = detail
        super().__init__(f"{status} {reason}: {detail}")
