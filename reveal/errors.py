"""Why reveal refuses a request, and why a routes file is unusable.

RevealError
├── RoutesError      the routes file cannot be used (names the file, the entry and the field)
└── RevealRefused    the request is answered by reveal with the reason's status and code, never forwarded

The reasons are the edge's own enumeration (fields/refusals.py): one vocabulary for both services.
"""

from __future__ import annotations

from fields.refusals import Reason


class RevealError(Exception):
    """Root of reveal's own errors."""


class RoutesError(RevealError, ValueError):
    """The routes file is unusable; the message names the file, the entry and the field."""


class RevealRefused(RevealError):
    """Answered with the reason's status and code; `detail` goes to the log only."""

    def __init__(self, reason: Reason, detail: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = reason.status if status is None else status
        self.detail = detail
        super().__init__(f"{self.status} {reason.code}: {detail}")
