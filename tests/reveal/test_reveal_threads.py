"""reveal.threads.DecryptThreads, the hand-off of a body to a decrypt thread and back: results and errors
reach the request that waits, at most `count` jobs run at once, and a job whose request is gone is never
run (what loop.run_in_executor on a ThreadPoolExecutor did)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from reveal.threads import DecryptThreads


async def test_a_result_and_an_error_come_back_to_the_request_that_waits() -> None:
    threads = DecryptThreads(2)
    threads.start(asyncio.get_running_loop())
    try:
        total, name = await threads.run(lambda a, b: (a + b, threading.current_thread().name), 2, 3)
        assert total == 5 and name.startswith("fle-reveal_")

        def fail() -> None:
            raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            await threads.run(fail)
        here = threading.current_thread
        names = await asyncio.gather(*(threads.run(lambda: here().name) for _ in range(8)))
        assert all(n.startswith("fle-reveal_") for n in names)
        assert threading.current_thread().name not in names
    finally:
        threads.stop()


async def test_at_most_count_jobs_run_at_once_and_a_cancelled_one_never_runs() -> None:
    threads = DecryptThreads(1)
    threads.start(asyncio.get_running_loop())
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def job(name: str) -> str:
        ran.append(name)
        started.set()
        release.wait(10)
        return name

    try:
        first = threads.run(job, "first")
        second = threads.run(job, "second")  # queued behind the first: the only thread is busy
        third = threads.run(job, "third")
        assert await asyncio.to_thread(started.wait, 10)  # the only thread holds the first job
        assert ran == ["first"]
        second.cancel()  # its request went away before a thread took it
        release.set()
        assert await first == "first" and await third == "third"
        assert ran == ["first", "third"]
    finally:
        release.set()
        threads.stop()
