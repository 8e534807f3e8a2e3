"""Reveal's decrypt threads: a body's fields are opened off the event loop, a request handed over and its
result handed back with as little as the hand-off needs.

Why not `loop.run_in_executor` on a ThreadPoolExecutor: that hand-off goes through a
concurrent.futures.Future (a Condition and its lock made per call), the executor's shutdown lock and
idle-thread semaphore, and `asyncio.wrap_future`'s callbacks both ways: about 20-30 µs of CPU per hand-off
here, against 8-14 µs for a queue of (asyncio future, function, arguments) and one `call_soon_threadsafe`
with the result (timed alone, 5,000 hand-offs 16 at a time; docs/performance.md).

What stays as it was: at most `count` bodies are opened at once, the rest wait in order; the threads are
named `fle-reveal_N`; a request whose wait was cancelled (its client went away) is never opened, if no
thread has taken it yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]] | None


class DecryptThreads:
    """`count` threads taking jobs from one queue; `run` awaits one job's result (or its exception)."""

    def __init__(self, count: int) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"fle-reveal_{i}", daemon=True) for i in range(count)
        ]
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Let the threads end once the jobs already queued are done (none are, once requests drained)."""
        for _ in self._threads:
            self._jobs.put(None)

    def run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        if self._loop is None:
            raise RuntimeError("the decrypt threads are not started")
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put((future, function, args))
        return future

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        while (job := self._jobs.get()) is not None:
            _do(loop, *job)
            del job  # its body is not kept alive by this thread until its next job


def _do(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    function: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    if future.cancelled():  # its request is gone: nothing to open for it
        return
    try:
        result = function(*args)
    except BaseException as e:  # handed back to the awaiting request, raised there
        _hand_back(loop, future, None, e)
    else:
        _hand_back(loop, future, result, None)


def _hand_back(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for it any more
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
