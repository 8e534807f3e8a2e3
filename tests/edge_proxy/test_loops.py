"""`fle proxy --loop`: which event loop each choice resolves to, and the one-line error when uvloop is asked
for but not installed (the guard and limit tests themselves run on both loops: the `both_loops` marker)."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from edge_proxy.serving.loops import LoopUnavailable, choose_loop, running_loop_name


async def _name() -> str:
    return running_loop_name()


def test_each_choice_runs_the_loop_it_names() -> None:
    for wanted, expected in [("auto", "uvloop"), ("asyncio", "asyncio"), ("uvloop", "uvloop")]:
        choice = choose_loop(wanted)
        assert choice.name == expected
        with asyncio.Runner(loop_factory=choice.factory) as runner:
            assert runner.run(_name()) == expected
            assert isinstance(runner.get_loop(), uvloop.Loop) is (expected == "uvloop")


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError, as when absent
    assert choose_loop("auto").name == "asyncio"
    with pytest.raises(LoopUnavailable, match=r"uvloop is not installed .*fle-edge\[fast\].*--loop asyncio"):
        choose_loop("uvloop")


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(LoopUnavailable, match="expected one of auto, asyncio, uvloop"):
        choose_loop("trio")


@pytest.mark.both_loops
async def test_both_loops_tests_really_run_on_each_loop(request: pytest.FixtureRequest) -> None:
    # the marker's two variants are named after the loop they run on (tests/conftest.py's hook)
    assert request.node.name.endswith(f"[{running_loop_name()}]")
