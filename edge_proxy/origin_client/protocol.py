"""The client side of HTTP/1.1 to the origin without I/O: bytes and our own events in, events out.

`ClientProtocol` keeps the connection's `Machine` (state.py) and reads responses with httptools (llhttp,
the parser uvicorn and Node use): Content-Length, chunked, close-delimited, and no body for 1xx, 204 and
304. The two cases llhttp cannot know are ours: a response to HEAD ends with its head (httptools cannot
tell the parser so; the next exchange gets a fresh parser, and any byte after such a head is out of
turn), and a close-delimited body ends at EOF (httptools has no `finish`: `receive_eof` says it). Interim
1xx heads are skipped (100, 102, 103); 101 is a fault, since we never ask to switch protocols.

What `receive` and `receive_eof` return, in order:

    Head(status, reason, headers, content_length, close_delimited)   the final response head
    bytes                                                            a piece of its body (no wrapper)
    Ended(reuse)                   the response is complete; reuse: the connection went back to IDLE
    Failed(reason, abort)          the exchange failed (the connection is CLOSED): cut it (abort) or close
    OUT_OF_TURN                    bytes with no exchange under way: the connection is CLOSED, close it

Messages name what happened, never a byte of the exchange.
"""

from __future__ import annotations

from typing import NamedTuple

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
from multidict import CIMultiDict

from .framing import body_framing
from .state import (
    CLOSED,
    IDLE,
    ON_ANSWER,
    ON_BEGIN,
    ON_CUT,
    ON_END_CLOSE,
    ON_END_KEEP,
    ON_EOF,
    ON_FAULT,
    ON_HEAD,
    ON_HEAD_TO_EOF,
    ON_INTERIM,
    ON_SENT,
    ON_STRAY,
    READING_BODY,
    TO_EOF,
    IllegalTransition,
    Machine,
    State,
)

MAX_HEAD_BYTES = 64 * 1024  # status line and header fields of one response head, as received


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
_new_tuple = tuple.__new__  # a Head without the Python-level __new__ NamedTuple generates (once per response)
END_REUSE, END_NO_REUSE = Ended(True), Ended(False)
Event = Head | bytes | Ended | Failed | OutOfTurn


class _Fault(Exception):
    """Raised in a parser callback: the response is not acceptable (the reason is its message)."""


class _Stray(Exception):
    """Raised in a parser callback: a byte with no exchange under way."""


_NOTHING: list[Event] = []  # never appended to: what an event that completes nothing returns
_NO_EXCHANGE = {IDLE, CLOSED}  # states in which any byte from the origin is out of turn


class ClientProtocol:
    """One connection's protocol: at most one exchange at a time, no I/O."""

    __slots__ = ("_events", "_fields", "_head_bytes", "_head_only", "_parser", "_reason", "machine")

    def __init__(self) -> None:
        self.machine = Machine()
        self._parser: HttpResponseParser | None = None
        self._events: list[Event] = []
        self._head_only = False
        self._reason = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0

    @property
    def state(self) -> State:
        return self.machine.state

    # --- our events ------------------------------------------------------------------------------------

    def begin(self, head_only: bool) -> list[Event]:
        """An exchange starts (`head_only`: the request is HEAD); [Failed] if the connection is closed."""
        if self.machine.fire(ON_BEGIN) is CLOSED:
            return [Failed("the origin closed the connection", abort=False)]
        self._parser = HttpResponseParser(self)
        self._head_only = head_only
        self._reason, self._fields, self._head_bytes = b"", [], 0
        return _NOTHING

    def sent(self) -> None:
        """The whole request went out."""
        self.machine.fire(ON_SENT)

    def cut(self) -> None:
        """We cut the connection (an abandoned response, a shutdown)."""
        self.machine.fire(ON_CUT)

    # --- the origin's bytes ----------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes read from the origin; the events they complete (a list valid until the next call)."""
        machine = self.machine
        state = machine.state
        if state is IDLE:
            machine.fire(ON_STRAY)  # we never pipeline: this can only be a broken or hostile peer
            return [OUT_OF_TURN]
        parser = self._parser
        if state is CLOSED or parser is None:
            return []  # after the exchange failed: nothing more is read
        events = self._events
        events.clear()  # one list for the connection's life: no allocation per piece of a long body
        try:
            parser.feed_data(data)
        except HttpParserUpgrade:
            machine.fire(ON_FAULT)
            events.append(Failed("the origin switched protocols"))
        except HttpParserError as e:
            cause = e.__context__
            if isinstance(cause, IllegalTransition):
                raise cause from None  # our bug, not the origin's fault
            if machine.state in _NO_EXCHANGE:
                if machine.state is IDLE:
                    machine.fire(ON_STRAY)
                events.append(OUT_OF_TURN)  # bytes after a complete response
            else:
                machine.fire(ON_FAULT)
                reason = str(cause) if isinstance(cause, _Fault) else "the origin's response is not HTTP/1.1"
                events.append(Failed(reason))
        return events

    def receive_eof(self, error: Exception | None = None) -> list[Event]:
        """The origin closed the connection (`error`: it was reset or failed)."""
        machine = self.machine
        state = machine.state
        machine.fire(ON_EOF)
        if state is TO_EOF and error is None:
            return [END_NO_REUSE]  # the end of a close-delimited body
        if state is IDLE or state is CLOSED:
            return []
        return [Failed("the origin closed the connection", abort=False)]

    # --- httptools callbacks ---------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.machine.state in _NO_EXCHANGE:
            raise _Stray
        self.machine.fire(ON_ANSWER)

    def on_status(self, status: bytes) -> None:
        self._reason += status  # llhttp gives the reason in pieces when it arrives in pieces
        self._count(len(status))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value))
        self._count(len(name) + len(value))

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _Fault("the origin's response head is too large")

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if status < 200:
            if status == 101:
                raise _Fault("the origin switched protocols")
            self._reason, self._fields, self._head_bytes = b"", [], 0  # 1xx: the final head follows
            return
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("utf-8", "surrogateescape")) for name, value in self._fields
        )
        self._fields = []
        no_body = self._head_only or status in (204, 304)
        length, close_delimited = body_framing(headers, no_body)
        self.machine.fire(ON_HEAD_TO_EOF if close_delimited else ON_HEAD)
        reason = self._reason.decode("utf-8", "surrogateescape")
        self._events.append(_new_tuple(Head, (status, reason, headers, length, close_delimited)))
        if self._head_only:
            self._end(parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if self.machine.state not in READING_BODY:
            raise _Stray  # the body of a response to HEAD, after its end
        self._events.append(body)

    def on_message_complete(self) -> None:
        state = self.machine.state
        if state in READING_BODY:
            parser = self._parser
            assert parser is not None
            self._end(parser.should_keep_alive())
        elif state in _NO_EXCHANGE:
            raise _Stray
        else:
            self.machine.fire(ON_INTERIM)  # the end of an interim 1xx response

    def _end(self, keep_alive: bool) -> None:
        reuse = self.machine.fire(ON_END_KEEP if keep_alive else ON_END_CLOSE) is IDLE
        self._events.append(END_REUSE if reuse else END_NO_REUSE)
