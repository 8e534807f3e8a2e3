"""Every state of one connection to the origin and every legal move between them, written down once.

The model is h11's `_state.py`: a table keyed by (state, event) gives the next state, and anything not
in it is a bug of ours (`IllegalTransition`), never something the origin can cause: what the origin
sends is either an event of the table or a fault (`Ev.FAULT`), which is legal from every open state.
One exchange at a time (we never pipeline), so one enumeration covers both directions:

    state       request (ours)        response (the origin's)           at its end
    IDLE        -                     - (a byte now is out of turn)     reusable
    SENDING     going out             none, or interim heads
    SENT        all out               not a byte yet                    a failure here may be retried
    ANSWERING   all out               a head begun, or interim heads
    BODY        all out               final head in, body framed        IDLE if both sides keep alive
    EARLY       cut short (answered)  final head in, body framed        CLOSED (the upload stopped)
    TO_EOF      any                   final head in, body to the EOF    CLOSED
    CLOSED      -                     -                                 terminal

Transitions (every other pair raises IllegalTransition; FAULT, CUT and EOF lead to CLOSED from any open
state, and EOF from TO_EOF is that body's end):

    IDLE      --BEGIN-->  SENDING   --SENT-->   SENT  --ANSWER--> ANSWERING --HEAD-->  BODY
    SENDING   --HEAD-->   EARLY     --SENT-->   BODY        (an answer came before the whole request)
    SENDING/SENT/ANSWERING --HEAD_TO_EOF--> TO_EOF          (neither Content-Length nor chunked)
    BODY      --END_KEEP--> IDLE    BODY/EARLY --END_CLOSE--> CLOSED    EARLY --END_KEEP--> CLOSED
    CLOSED    --BEGIN-->  CLOSED    (the exchange fails at once: the origin closed while pooled)
"""

from __future__ import annotations

from enum import Enum


class State(Enum):
    """Where one connection to the origin stands (see the table above)."""

    IDLE = "idle"
    SENDING = "sending"
    SENT = "sent"
    ANSWERING = "answering"
    BODY = "body"
    EARLY = "early"
    TO_EOF = "to-eof"
    CLOSED = "closed"

    __hash__ = object.__hash__  # members are singletons: identity, not Enum's hash of the name in Python


class Ev(Enum):
    """What moves a connection: ours (BEGIN, SENT, CUT) or read from the origin (the rest)."""

    BEGIN = "begin"  # an exchange starts
    SENT = "sent"  # the whole request went out
    ANSWER = "answer"  # the first byte of a response head (final or interim)
    INTERIM = "interim"  # an interim 1xx response ended (100, 102, 103)
    HEAD = "head"  # the final head, its body framed by Content-Length or chunked, or absent
    HEAD_TO_EOF = "head-to-eof"  # the final head, its body delimited by the connection's close
    END_KEEP = "end-keep"  # the response is complete and the origin allows keep-alive
    END_CLOSE = "end-close"  # the response is complete and the origin closes (or HTTP/1.0)
    EOF = "eof"  # the origin closed or reset the connection
    STRAY = "stray"  # a byte with no exchange under way
    FAULT = "fault"  # the origin's bytes are not well-formed HTTP/1.1 (or too large a head)
    CUT = "cut"  # we cut the connection (an abandoned response, a shutdown)

    __hash__ = object.__hash__


# The members as module names, for the hot path: on Python 3.11 `State.IDLE` is a lookup through the enum
# class's __getattr__ (about 100 ns each, a few dozen per exchange); a module name is a dict lookup.
IDLE, SENDING, SENT, ANSWERING = State.IDLE, State.SENDING, State.SENT, State.ANSWERING
BODY, EARLY, TO_EOF, CLOSED = State.BODY, State.EARLY, State.TO_EOF, State.CLOSED
ON_BEGIN, ON_SENT, ON_ANSWER, ON_INTERIM = Ev.BEGIN, Ev.SENT, Ev.ANSWER, Ev.INTERIM
ON_HEAD, ON_HEAD_TO_EOF, ON_END_KEEP, ON_END_CLOSE = Ev.HEAD, Ev.HEAD_TO_EOF, Ev.END_KEEP, Ev.END_CLOSE
ON_EOF, ON_STRAY, ON_FAULT, ON_CUT = Ev.EOF, Ev.STRAY, Ev.FAULT, Ev.CUT


class IllegalTransition(RuntimeError):
    """An event in a state that cannot receive it: a bug of the client, never of the origin."""


S, E = State, Ev
_OPEN = (S.IDLE, S.SENDING, S.SENT, S.ANSWERING, S.BODY, S.EARLY, S.TO_EOF)

TRANSITIONS: dict[State, dict[Ev, State]] = {
    S.IDLE: {E.BEGIN: S.SENDING, E.STRAY: S.CLOSED},
    S.SENDING: {
        E.SENT: S.SENT,
        E.ANSWER: S.SENDING,  # the upload goes on through interim heads
        E.INTERIM: S.SENDING,
        E.HEAD: S.EARLY,
        E.HEAD_TO_EOF: S.TO_EOF,
    },
    S.SENT: {E.ANSWER: S.ANSWERING, E.HEAD: S.BODY, E.HEAD_TO_EOF: S.TO_EOF},
    S.ANSWERING: {E.ANSWER: S.ANSWERING, E.INTERIM: S.ANSWERING, E.HEAD: S.BODY, E.HEAD_TO_EOF: S.TO_EOF},
    S.BODY: {E.END_KEEP: S.IDLE, E.END_CLOSE: S.CLOSED},
    S.EARLY: {E.SENT: S.BODY, E.END_KEEP: S.CLOSED, E.END_CLOSE: S.CLOSED},
    S.TO_EOF: {E.SENT: S.TO_EOF},
    S.CLOSED: {ev: S.CLOSED for ev in (E.BEGIN, E.SENT, E.EOF, E.CUT, E.FAULT, E.STRAY)},  # all fail or no-op
}
for _state in _OPEN:
    for _ev in (E.EOF, E.CUT, E.FAULT):
        TRANSITIONS[_state].setdefault(_ev, S.CLOSED)

_MOVES = TRANSITIONS


def quiet_moves(event: Ev) -> dict[State, State]:
    """The moves on `event` that close nothing (the open state it leads to, or CLOSED left CLOSED), by state.

    The protocol's hot path reads these: a dictionary lookup and an assignment per transition instead of a
    call to `Machine.fire`. A state missing here is either a closing move (fire records `closed_from`) or
    an illegal one (fire raises IllegalTransition): the protocol calls `fire` for both, so every move is
    still one of TRANSITIONS and nothing else."""
    return {
        state: new
        for state, moves in TRANSITIONS.items()
        if (new := moves.get(event)) is not None and (new is not CLOSED or state is CLOSED)
    }


WRITABLE = frozenset({S.SENDING, S.SENT, S.ANSWERING})  # the request may go on: no final head yet
READING_BODY = frozenset({S.BODY, S.EARLY, S.TO_EOF})  # a final head is in, its body is being read
RETRYABLE = frozenset({S.IDLE, S.SENDING, S.SENT})  # closed from here: not a byte of an answer came


class Machine:
    """The state of one connection, moved only through TRANSITIONS."""

    __slots__ = ("closed_from", "state")

    def __init__(self) -> None:
        self.state = IDLE
        self.closed_from = IDLE  # the last open state, once CLOSED (was an answer under way?)

    def fire(self, event: Ev) -> State:
        """Move on `event`; IllegalTransition if the table has no such move from here."""
        state = self.state
        new = _MOVES[state].get(event)
        if new is None:
            raise IllegalTransition(f"{event.name} in state {state.name}")
        if new is CLOSED and state is not CLOSED:
            self.closed_from = state
        self.state = new
        return new
