"""Which event loop the proxy runs on: the standard library's, or uvloop's (an optional dependency).

uvloop (libuv underneath) runs the same asyncio protocols with less CPU per callback; it is installed by
the `fast` extra. `fle proxy --loop auto` (the default) takes it when it can be imported, else asyncio;
`--loop uvloop` without it installed is an error, not a silent fallback. Each process (every worker of
`--workers N`) creates its own loop with the factory chosen here, through asyncio.Runner (Python 3.11's
asyncio.run has no loop_factory).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

CHOICES = ("auto", "asyncio", "uvloop")


class LoopUnavailable(Exception):
    """The loop asked for cannot be used here (uvloop not installed); one line for the user."""


@dataclass(frozen=True, slots=True)
class LoopChoice:
    """A resolved choice: `name` is "asyncio" or "uvloop", `factory` makes a new loop of that kind."""

    name: str
    factory: Callable[[], asyncio.AbstractEventLoop]

    def run(self, main: Coroutine[Any, Any, None]) -> None:
        """Run `main` to completion on a new loop of this kind (KeyboardInterrupt is the caller's)."""
        with asyncio.Runner(loop_factory=self.factory) as runner:
            runner.run(main)


ASYNCIO = LoopChoice("asyncio", asyncio.new_event_loop)


def choose_loop(wanted: str = "auto") -> LoopChoice:
    """ "auto" -> uvloop when importable, else asyncio; "uvloop" -> uvloop or LoopUnavailable."""
    if wanted not in CHOICES:
        raise LoopUnavailable(f"--loop {wanted!r}: expected one of {', '.join(CHOICES)}")
    if wanted == "asyncio":
        return ASYNCIO
    try:
        import uvloop
    except ImportError as e:
        if wanted == "auto":
            return ASYNCIO
        raise LoopUnavailable(
            "--loop uvloop: uvloop is not installed (pip install 'fle-edge[fast]'), or use --loop asyncio"
        ) from e
    return LoopChoice("uvloop", uvloop.new_event_loop)


def running_loop_name() -> str:
    """The kind of the running loop, as the proxy logs it: "uvloop" or "asyncio"."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Callable[[], Coroutine[Any, Any, None]], choice: LoopChoice = ASYNCIO) -> int:
    """Run `main()` on `choice` until it returns or SIGINT; 0."""
    with contextlib.suppress(KeyboardInterrupt):
        choice.run(main())
    return 0
