"""The client side of HTTP/1.1 to the origin without I/O: what a request carries written as bytes, and the
origin's bytes read into events (one concern, both directions of the wire, as h11's `Connection` has it).

`ClientProtocol` keeps the connection's `Machine` (state.py) and reads responses with httptools (llhttp,
the parser uvicorn and Node use): Content-Length, chunked, close-delimited, and no body for 1xx, 204 and
304. The two cases llhttp cannot know are ours: a response to HEAD ends with its head (httptools cannot
tell the parser so; the next exchange gets a fresh parser, and any byte after such a head is out of
turn), and a close-delimited body ends at EOF (httptools has no `finish`: `receive_eof` says it). Interim
1xx heads are skipped (100, 102, 103); 101 is a fault, since we never ask to switch protocols.

What `receive` and `receive_eof` return is events.py's; messages never hold a byte of the exchange.

The connection's moves are `Machine.fire`'s (state.py), but for those that close nothing, which are read
from `quiet_moves` tables here: one lookup per move on the way of every exchange, and `fire` (which raises
IllegalTransition, or records where the connection closed from) whenever the table has no such move.

What a request carries (`head_for`): the method, the request-target it is given, `Host` for the origin, the
caller's headers verbatim (but `Authorization`, set from the origin URL's `user:password@` when it has one,
as aiohttp's client did), and the framing: `Content-Length` for a bytes body (the body's length), the
caller's `Content-Length` for a streamed body that has one, else `Transfer-Encoding: chunked`;
`Content-Length: 0` for a body-less request whose method expects a body (POST, PUT, PATCH, DELETE), as
aiohttp did. Nothing else: no User-Agent, Accept, Accept-Encoding, Content-Type, Connection. A header
value with CR or LF is refused (ValueError), as aiohttp's writer refuses it; a byte that is not UTF-8
(read by aiohttp as a lone surrogate) is sent as the byte it was.
"""

from __future__ import annotations

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
from multidict import CIMultiDict

from .events import END_NO_REUSE, END_REUSE, OUT_OF_TURN, Event, Failed, Head
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
    quiet_moves,
)

_BEGIN, _SENT, _ANSWER = quiet_moves(ON_BEGIN), quiet_moves(ON_SENT), quiet_moves(ON_ANSWER)
_HEAD, _HEAD_TO_EOF, _END_KEEP = quiet_moves(ON_HEAD), quiet_moves(ON_HEAD_TO_EOF), quiet_moves(ON_END_KEEP)
_NO_BODY_EXPECTED = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
LAST_CHUNK = b"0\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024  # status line and header fields of one response head, as received
_new_tuple = tuple.__new__  # a Head without the Python-level __new__ NamedTuple generates (once per response)


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
        machine = self.machine
        try:
            machine.state = new = _BEGIN[machine.state]
        except KeyError:
            new = machine.fire(ON_BEGIN)  # IllegalTransition: an exchange is under way
        if new is CLOSED:
            return [Failed("the origin closed the connection", abort=False)]
        self._parser = HttpResponseParser(self)
        self._head_only = head_only
        self._reason, self._fields, self._head_bytes = b"", [], 0
        return _NOTHING

    def sent(self) -> None:
        """The whole request went out."""
        machine = self.machine
        try:
            machine.state = _SENT[machine.state]
        except KeyError:
            machine.fire(ON_SENT)  # IllegalTransition: no exchange under way, or sent twice

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
        machine = self.machine
        state = machine.state
        if state in _NO_EXCHANGE:
            raise _Stray
        try:
            machine.state = _ANSWER[state]
        except KeyError:
            machine.fire(ON_ANSWER)

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
        machine = self.machine
        try:
            machine.state = (_HEAD_TO_EOF if close_delimited else _HEAD)[machine.state]
        except KeyError:
            machine.fire(ON_HEAD_TO_EOF if close_delimited else ON_HEAD)
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
        machine = self.machine
        if keep_alive and machine.state in _END_KEEP:
            machine.state = _END_KEEP[machine.state]  # BODY -> IDLE
            self._events.append(END_REUSE)
        else:  # closing (fire records where from), or illegal
            reuse = machine.fire(ON_END_KEEP if keep_alive else ON_END_CLOSE) is IDLE
            self._events.append(END_REUSE if reuse else END_NO_REUSE)


# --- what a request carries, and how a response body is framed ----------------------------------------


def head_for(
    method: str,
    target: str,
    host: str,
    headers: CIMultiDict[str],
    body_length: int | None,
    streamed: bool,
    authorization: str | None,
) -> bytes:
    """The request head for a body of `body_length` bytes, or a streamed body, or none (both unset).

    `headers` are changed: the framing headers are ours. ValueError when a header holds a CR or LF."""
    if body_length is not None:
        headers.popall("Transfer-Encoding", None)
        headers["Content-Length"] = str(body_length)
    elif streamed:
        headers.popall("Transfer-Encoding", None)
        if "Content-Length" not in headers:
            headers["Transfer-Encoding"] = "chunked"
    elif method not in _NO_BODY_EXPECTED and "Content-Length" not in headers:
        headers["Content-Length"] = "0"
    if authorization is not None:
        headers["Authorization"] = authorization
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
        raise ValueError("a header for the origin holds a CR or LF")
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{fields}\r\n"
    # aiohttp read each header byte that is not UTF-8 as a lone surrogate (surrogateescape): it goes out
    # as the byte the client sent (a Latin-1 cookie), as any HTTP/1.1 proxy passes opaque field bytes
    return head.encode("utf-8", "surrogateescape")


def chunk(data: bytes) -> bytes:
    """One piece of a chunked request body (never empty: an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def body_framing(headers: CIMultiDict[str], no_body: bool) -> tuple[int | None, bool]:
    """(Content-Length, close-delimited) of a response, from its head as llhttp has checked it.

    Content-Length counts only without Transfer-Encoding; a body with neither a length nor chunked as
    its last coding ends when the origin closes the connection, unless the response has none at all
    (a response to HEAD, 204, 304)."""
    length: int | None = None
    te = headers.get("Transfer-Encoding")
    if te is None:
        value = headers.get("Content-Length")
        if value is not None:
            length = int(value)  # llhttp has checked it is one decimal number
    if no_body:
        return length, False
    chunked = te is not None and te.rsplit(",", 1)[-1].strip().lower() == "chunked"
    return length, length is None and not chunked
