"""What the tests of the edge's origin client (test_upstream*.py) share."""

from __future__ import annotations

from edge_proxy.origin_client.response import OriginResponse


async def read_body(response: OriginResponse) -> bytes:
    """The whole body of `response`, which is closed after it (its connection goes back or away)."""
    parts = []
    while chunk := await response.read():
        parts.append(chunk)
    response.close()
    return b"".join(parts)
