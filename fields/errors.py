"""Why the proxy refuses a request. Every refusal carries a CloudFront-style reason code and a status.

ProxyError
└── RequestRefused        the request is answered by the proxy, never forwarded
"""

from __future__ import annotations


class ProxyError(Exception):
    """Root of the proxy's own errors."""


class RequestRefused(ProxyError):
    """The request is refused with `status`; `reason` is the code logged and shown to the client."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        self.status = status
        self.reason = reason
        self.detail = detail
        super().__init__(f"{status} {reason}: {detail}")
