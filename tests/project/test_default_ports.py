"""Tests bind only ports the OS gave them: tests/conftest.py fails any test whose `fle` process says it
listens on a default port (a suite once failed on a clean clone because another process held 9180)."""

from __future__ import annotations

import sys

from tests.fixtures_process import DEFAULT_PORTS, ON_DEFAULT_PORTS, FleProcess, fle_env


def test_the_default_ports_are_read_from_the_parser() -> None:
    # fle proxy --listen and --admin, fle origin --listen (and demo --origin-port), fle reveal --listen
    assert {8080, 8081, 9180, 8443} <= DEFAULT_PORTS


def test_a_process_saying_it_listens_on_a_default_port_is_caught() -> None:
    """The check itself can fail: a process that says it listens on 9180 is noted (it binds nothing here,
    so the test needs no free 9180 to prove it)."""
    before = len(ON_DEFAULT_PORTS)
    line = "2026-12-07 INFO edge_proxy: admin listening on http://127.0.0.1:9180 (/healthz /readyz /metrics)"
    process = FleProcess([sys.executable, "-c", f"print({line!r})"], env=fle_env())
    process.finish()
    caught = ON_DEFAULT_PORTS[before:]
    del ON_DEFAULT_PORTS[before:]  # noted on purpose: not this test's failure
    assert [entry[1] for entry in caught] == [line]
    elsewhere = "print('proxy listening on http://127.0.0.1:49152')"
    other = FleProcess([sys.executable, "-c", elsewhere], env=fle_env())
    other.finish()
    assert len(ON_DEFAULT_PORTS) == before
