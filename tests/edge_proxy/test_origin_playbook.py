"""Playbooks for the origin client's protocol (origin_client/protocol.py, state.py), as mitmproxy tests its
layers: our events and the origin's bytes go in, the events and states that come out are checked, with no
socket and no sleep. Every framing fault the socket tests (test_upstream*.py, test_faults_origin.py) meet
is here, each response fed whole and byte by byte.

    Playbook(head_only) >> BEGIN >> SENT >> b"bytes from the origin" << [expected events] ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from multidict import CIMultiDict

from edge_proxy.origin_client.events import Ended, Event, Failed, Head
from edge_proxy.origin_client.protocol import (
    LAST_CHUNK,
    MAX_HEAD_BYTES,
    ClientProtocol,
    body_framing,
    chunk,
    head_for,
)
from edge_proxy.origin_client.state import TRANSITIONS, Ev, IllegalTransition, Machine, State, quiet_moves

BEGIN, SENT, EOF, RESET, CUT = "begin", "sent", "eof", "reset", "cut"
NOT_HTTP = "the origin's response is not HTTP/1.1"
CLOSED_BY_ORIGIN = "the origin closed the connection"


def _summary(events: list[Event]) -> list[tuple[Any, ...]]:
    """Events as plain tuples, consecutive body pieces joined (how bytes are split must not matter)."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, bytes):
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + event)
            else:
                out.append(("body", event))
        elif isinstance(event, Head):
            headers = list(event.headers.items())
            out.append(
                ("head", event.status, event.reason, headers, event.content_length, event.close_delimited)
            )
        elif isinstance(event, Ended):
            out.append(("end", event.reuse))
        elif isinstance(event, Failed):
            out.append(("failed", event.reason, event.abort))
        else:
            out.append(("out of turn",))
    return out


def head(
    status: int, reason: str, *headers: tuple[str, str], length: int | None = None, eof: bool = False
) -> tuple:
    return ("head", status, reason, list(headers), length, eof)


def body(data: bytes) -> tuple[str, bytes]:
    return ("body", data)


END_REUSE, END_CLOSE = ("end", True), ("end", False)


def failed(reason: str = NOT_HTTP, abort: bool = True) -> tuple[str, str, bool]:
    return ("failed", reason, abort)


STRAY = ("out of turn",)


class Playbook:
    """`>>` an input (BEGIN, SENT, EOF, RESET, CUT, or bytes from the origin), `<<` the events expected
    from everything fed since the last `<<`. `bytewise`: bytes are fed one at a time."""

    def __init__(self, head_only: bool = False, bytewise: bool = False) -> None:
        self.protocol = ClientProtocol()
        self.head_only = head_only
        self.bytewise = bytewise
        self.events: list[Event] = []

    def __rshift__(self, step: str | bytes) -> Playbook:
        p = self.protocol
        if isinstance(step, bytes):
            pieces: Iterator[bytes] = (
                (step[i : i + 1] for i in range(len(step))) if self.bytewise else iter([step])
            )
            for piece in pieces:
                self.events += p.receive(piece)
        elif step == BEGIN:
            self.events += p.begin(self.head_only)
        elif step == SENT:
            p.sent()
        elif step == EOF:
            self.events += p.receive_eof()
        elif step == RESET:
            self.events += p.receive_eof(ConnectionResetError())
        else:
            p.cut()
        return self

    def __lshift__(self, expected: list[tuple[Any, ...]]) -> Playbook:
        assert _summary(self.events) == expected
        self.events = []
        return self

    @property
    def state(self) -> State:
        return self.protocol.state


@pytest.fixture(params=["whole", "bytewise"])
def bytewise(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "bytewise")


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_length_framed_answer_leaves_the_connection_reusable(bytewise: bool) -> None:
    pb = Playbook(bytewise=bytewise) >> BEGIN << []
    assert pb.state is State.SENDING and pb.protocol.machine.state is State.SENDING
    pb >> SENT << []
    assert pb.state is State.SENT
    pb >> OK << [head(200, "OK", ("Content-Length", "2"), length=2), body(b"ok"), END_REUSE]
    assert pb.state is State.IDLE
    pb >> BEGIN >> SENT >> OK << [head(200, "OK", ("Content-Length", "2"), length=2), body(b"ok"), END_REUSE]


def test_chunked_with_extensions_and_trailers_then_reuse(bytewise: bool) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n"
    pb = Playbook(bytewise=bytewise) >> BEGIN >> SENT >> answer
    pb << [head(200, "OK", ("Transfer-Encoding", "chunked")), body(b"hello world")]
    assert pb.state is State.BODY
    pb >> b"0\r\nX-Trailer: t\r\n\r\n" << [END_REUSE]
    assert pb.state is State.IDLE


def test_a_close_delimited_body_ends_at_eof_and_is_not_reused(bytewise: bool) -> None:
    pb = (
        Playbook(bytewise=bytewise)
        >> BEGIN
        >> SENT
        >> b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil"
    )
    pb >> b" the end" << [head(200, "OK", ("Content-Type", "text/plain"), eof=True), body(b"until the end")]
    assert pb.state is State.TO_EOF
    pb >> EOF << [END_CLOSE]
    assert pb.state is State.CLOSED


def test_a_reset_ends_a_close_delimited_body_as_a_failure() -> None:
    pb = Playbook() >> BEGIN >> SENT >> b"HTTP/1.1 200 OK\r\n\r\npart"
    pb << [head(200, "OK", eof=True), body(b"part")]
    pb >> RESET << [failed(CLOSED_BY_ORIGIN, abort=False)]


def test_a_reset_mid_body_is_a_failure() -> None:
    pb = Playbook() >> BEGIN >> SENT >> b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart"
    pb << [head(200, "OK", ("Content-Length", "10"), length=10), body(b"part")]
    pb >> RESET << [failed(CLOSED_BY_ORIGIN, abort=False)]
    assert pb.state is State.CLOSED


def test_interim_heads_are_skipped_and_the_final_reason_is_its_own(bytewise: bool) -> None:
    pb = Playbook(bytewise=bytewise) >> BEGIN >> SENT >> b"HTTP/1.1 100 Continue\r\n\r\n" << []
    assert pb.state is State.ANSWERING
    pb >> b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" << []
    pb >> b"HTTP/1.1 201 Created\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok"
    pb << [head(201, "Created", ("X-Final", "1"), ("Content-Length", "2"), length=2), body(b"ok"), END_REUSE]
    pb >> BEGIN >> SENT >> b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
    pb << [head(200, "", ("Content-Length", "0"), length=0), END_REUSE]


def test_101_is_refused(bytewise: bool) -> None:
    pb = Playbook(bytewise=bytewise) >> BEGIN >> SENT
    pb >> b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
    pb << [failed("the origin switched protocols")]
    assert pb.state is State.CLOSED and pb.protocol.machine.closed_from is State.ANSWERING


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", head(204, "No Content")),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            head(304, "Not Modified", ("Content-Length", "10"), length=10),
        ),
    ],
)
def test_no_body_for_204_and_304_and_the_connection_stays(
    answer: bytes, expected: tuple, bytewise: bool
) -> None:
    pb = Playbook(bytewise=bytewise) >> BEGIN >> SENT >> answer << [expected, END_REUSE]
    assert pb.state is State.IDLE


def test_a_head_answer_ends_with_its_head_and_its_body_is_out_of_turn(bytewise: bool) -> None:
    pb = Playbook(head_only=True, bytewise=bytewise) >> BEGIN >> SENT
    (
        pb
        >> b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        << [head(200, "OK", ("Content-Length", "5"), length=5), END_REUSE]
    )
    assert pb.state is State.IDLE
    pb >> b"hello" << [STRAY]
    assert pb.state is State.CLOSED


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
)
def test_connection_close_or_http_1_0_is_honoured(answer: bytes, bytewise: bool) -> None:
    pb = Playbook(bytewise=bytewise) >> BEGIN >> SENT >> answer
    assert _summary(pb.events)[1:] == [body(b"ok"), END_CLOSE]
    assert pb.state is State.CLOSED


def test_a_close_while_pooled_fails_the_next_exchange_at_once_and_it_may_be_retried() -> None:
    pb = Playbook() >> BEGIN >> SENT >> OK
    pb.events = []
    pb >> EOF << []
    assert pb.state is State.CLOSED
    pb >> BEGIN << [failed(CLOSED_BY_ORIGIN, abort=False)]
    assert pb.protocol.machine.closed_from is State.IDLE  # RETRYABLE: no byte of an answer came


@pytest.mark.parametrize(("before", "retryable"), [(b"", True), (b"HTTP/1.1 2", False)])
def test_a_close_before_the_answer_may_be_retried_one_after_it_began_may_not(
    before: bytes, retryable: bool
) -> None:
    pb = Playbook() >> BEGIN >> SENT >> before >> EOF << [failed(CLOSED_BY_ORIGIN, abort=False)]
    assert (pb.protocol.machine.closed_from is State.SENT) == retryable


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nnot a chunk\r\n",
            NOT_HTTP,
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", NOT_HTTP),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", NOT_HTTP),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", NOT_HTTP),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n",
            "the origin's response head is too large",
        ),
    ],
    ids=["malformed-chunk", "garbage", "two-lengths", "bad-length", "huge-head"],
)
def test_framing_faults_fail_the_exchange_and_cut_the_connection(answer: bytes, reason: str) -> None:
    pb = Playbook() >> BEGIN >> SENT >> answer
    assert _summary(pb.events)[-1] == failed(reason)
    assert pb.state is State.CLOSED
    pb.events.clear()
    pb >> b"more" >> EOF << []  # nothing more is read


def test_a_chunked_body_cut_off_by_eof_is_a_failure(bytewise: bool) -> None:
    pb = (
        Playbook(bytewise=bytewise)
        >> BEGIN
        >> SENT
        >> b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )
    pb << [head(200, "OK", ("Transfer-Encoding", "chunked")), body(b"hello")]
    pb >> EOF << [failed(CLOSED_BY_ORIGIN, abort=False)]


def test_bytes_after_a_complete_response_retire_the_connection() -> None:
    pb = Playbook() >> BEGIN >> SENT >> OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
    pb << [head(200, "OK", ("Content-Length", "2"), length=2), body(b"ok"), END_REUSE, STRAY]
    assert pb.state is State.CLOSED


def test_bytes_while_idle_are_out_of_turn() -> None:
    pb = Playbook() >> b"HTTP/1.1 200 OK\r\n" << [STRAY]
    assert pb.state is State.CLOSED
    pb >> BEGIN << [failed(CLOSED_BY_ORIGIN, abort=False)]


def test_an_early_answer_ends_the_upload_and_the_connection_is_not_reused(bytewise: bool) -> None:
    pb = Playbook(bytewise=bytewise) >> BEGIN >> b"HTTP/1.1 100 Continue\r\n\r\n" << []
    assert pb.state is State.SENDING  # an interim head: the upload goes on
    pb >> b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\n"
    pb << [head(413, "Payload Too Large", ("Content-Length", "4"), length=4)]
    assert pb.state is State.EARLY
    pb >> b"big!" << [body(b"big!"), END_CLOSE]
    assert pb.state is State.CLOSED


def test_an_upload_finished_after_an_early_head_may_be_reused() -> None:
    pb = Playbook() >> BEGIN >> b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" >> SENT
    assert pb.state is State.BODY
    pb >> b"ok" << [head(200, "OK", ("Content-Length", "2"), length=2), body(b"ok"), END_REUSE]


def test_an_abandoned_response_is_cut() -> None:
    pb = Playbook() >> BEGIN >> SENT >> b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart" >> CUT
    assert pb.state is State.CLOSED and pb.protocol.machine.closed_from is State.BODY
    pb >> b"rest" >> EOF
    assert _summary(pb.events)[-1] == body(b"part")  # nothing after the cut


# --- illegal transitions: our bugs, raised, never taken for the origin's fault ---------------------------


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        ([], SENT),  # a request sent with no exchange
        ([BEGIN], BEGIN),  # a second exchange while one is under way (we never pipeline)
        ([BEGIN, SENT], SENT),
        ([BEGIN, SENT, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"], BEGIN),
        ([BEGIN, SENT, OK], SENT),
    ],
)
def test_illegal_transitions_raise(steps: list[str | bytes], illegal: str) -> None:
    pb = Playbook()
    for step in steps:
        pb >> step
    with pytest.raises(IllegalTransition):
        pb >> illegal


def test_the_table_names_every_state_and_closed_is_terminal() -> None:
    assert set(TRANSITIONS) == set(State)
    assert set(TRANSITIONS[State.CLOSED].values()) == {State.CLOSED}
    for state in State:
        if state is not State.CLOSED:
            for ev in (Ev.EOF, Ev.CUT, Ev.FAULT):
                assert TRANSITIONS[state][ev] is State.CLOSED
    reached, todo = {State.IDLE}, [State.IDLE]
    while todo:
        for new in TRANSITIONS[todo.pop()].values():
            if new not in reached:
                reached.add(new)
                todo.append(new)
    assert reached == set(State)
    machine = Machine()
    with pytest.raises(IllegalTransition, match="HEAD in state IDLE"):
        machine.fire(Ev.HEAD)


def test_the_quiet_moves_the_protocol_reads_are_the_tables_and_close_nothing() -> None:
    """The protocol's hot path looks moves up in quiet_moves instead of calling fire: each is the table's
    move, none closes an open connection, and every move left out is fire's (it closes, or it raises)."""
    for ev in Ev:
        quiet = quiet_moves(ev)
        for state in State:
            machine = Machine()
            machine.state = state
            if state in quiet:
                assert quiet[state] is TRANSITIONS[state][ev]
                assert quiet[state] is not State.CLOSED or state is State.CLOSED
            elif ev in TRANSITIONS[state]:
                assert machine.fire(ev) is State.CLOSED and machine.closed_from is state
            else:
                with pytest.raises(IllegalTransition):
                    machine.fire(ev)
    assert quiet_moves(Ev.SENT)[State.SENDING] is State.SENT and State.IDLE not in quiet_moves(Ev.SENT)


# --- request framing, written -------------------------------------------------------------------------


def test_the_request_head_carries_host_our_framing_and_nothing_else() -> None:
    headers = CIMultiDict([("X-A", "1"), ("Transfer-Encoding", "gzip")])
    assert head_for("POST", "/p?q", "o:81", headers, 3, False, None) == (
        b"POST /p?q HTTP/1.1\r\nHost: o:81\r\nX-A: 1\r\nContent-Length: 3\r\n\r\n"
    )
    headers = CIMultiDict()
    assert head_for("PUT", "/", "o", headers, None, True, "Basic eA==") == (
        b"PUT / HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\nAuthorization: Basic eA==\r\n\r\n"
    )
    assert head_for("DELETE", "/", "o", CIMultiDict(), None, False, None).endswith(
        b"Content-Length: 0\r\n\r\n"
    )
    assert b"Content-Length" not in head_for("GET", "/", "o", CIMultiDict(), None, False, None)
    with pytest.raises(ValueError, match="CR or LF"):
        head_for("GET", "/", "o", CIMultiDict([("X", "a\r\nInjected: 1")]), None, False, None)
    latin1 = "caf\udce9"  # a byte that was not UTF-8, read by aiohttp as a lone surrogate, goes out as sent
    assert b"Cookie: caf\xe9\r\n" in head_for(
        "GET", "/", "o", CIMultiDict([("Cookie", latin1)]), None, False, None
    )
    assert chunk(b"hello") + LAST_CHUNK == b"5\r\nhello\r\n0\r\n\r\n"


def test_the_body_framing_of_a_response_head() -> None:
    assert body_framing(CIMultiDict([("Content-Length", "5")]), False) == (5, False)
    assert body_framing(CIMultiDict([("Transfer-Encoding", "gzip, chunked")]), False) == (None, False)
    assert body_framing(CIMultiDict([("Transfer-Encoding", "gzip")]), False) == (None, True)
    assert body_framing(CIMultiDict(), False) == (None, True)
    assert body_framing(CIMultiDict(), True) == (None, False)
