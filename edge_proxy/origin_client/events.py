"""What the protocol (protocol.py) tells its driver, as h11's `_events.py` does: plain immutable records.

`ClientProtocol.receive` and `receive_eof` return these, in order:

    Head(status, reason, headers, content_length, close_delimited)   the final response head
    bytes                                                            a piece of its body (no wrapper)
    Ended(reuse)                   the response is complete; reuse: the connection went back to IDLE
    Failed(reason, abort)          the exchange failed (the connection is CLOSED): cut it (abort) or close
    OUT_OF_TURN                    bytes with no exchange under way: the connection is CLOSED, close it

Messages name what happened, never a byte of the exchange.
"""

from __future__ import annotations

from typing import NamedTuple

from multidict import CIMultiDict


class Head(NamedTuple):
    """The final (non-1xx) response head, as received, with its body's framing."""

    status: int
    reason: str
    headers: CIMultiDict[str]
    content_length: int | None  # None when chunked or absent
    close_delimited: bool  # the body ends when the origin closes the connection


class Ended(NamedTuple):
    """The response is complete; `reuse`: the connection is IDLE again (else CLOSED)."""

    reuse: bool


class Failed(NamedTuple):
    """The exchange failed and the connection is CLOSED; `abort`: cut it rather than close it."""

    reason: str
    abort: bool = True


class OutOfTurn(NamedTuple):
    """Bytes from the origin with no exchange under way: the connection is CLOSED."""


OUT_OF_TURN = OutOfTurn()
END_REUSE, END_NO_REUSE = Ended(True), Ended(False)
Event = Head | bytes | Ended | Failed | OutOfTurn
