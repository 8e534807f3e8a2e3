"""Why the proxy refuses a request. Every refusal carries a reason (fields/refusals.py): code and status.

ProxyError
└── RequestRefused        the request is answered by the proxy, never forwarded
"""

from __future__ import annotations

from .refusals import Reason

__all__ = ["ProxyError", "Reason", "RequestRefused"]  # a refusal and its reason from one import


class ProxyError(Exception):
    """Root of the proxy's own errors."""


class RequestRefused(ProxyError):
    """The request is refused for `reason` (its code logged and shown to the client) with its status.

    `status` overrides the reason's own status; no site needs that today (every code has one status).
    """

    def __init__(self, reason: Reason, detail: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = reason.status if status is None else status
        self.detail = detail
        super().__init__(f"{self.status} {reason.code}: {detail}")
