"""Starting a pool of spawned worker processes that are all up before the first piece of work: the one
way the decryptor's batches (processes.py) and `fle rewrap` (rewrap_processes.py) start theirs.

Stdlib only, so a worker that imports it loads nothing else of ours.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

START_TIMEOUT = 60.0  # seconds a worker may take to start (import, open its keystore) and meet the others

R = TypeVar("R")


def spawn_pool(
    processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...], ready: Callable[[], R]
) -> tuple[ProcessPoolExecutor, list[R]]:
    """`processes` spawned workers, each started by `initializer(*initargs, barrier)`, which must end with
    `barrier.wait(START_TIMEOUT)`; returns the pool once every worker is up, with what `ready` returned
    in each (one task per worker, each held at the barrier until all have started, so work submitted
    next is shared at once).

    'spawn', never fork: a forked child would inherit open PKCS#11 sessions and threads. OSError where
    semaphores cannot be made (AWS Lambda has no /dev/shm); whatever fails, no worker is left running.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    pool = ProcessPoolExecutor(
        processes, mp_context=ctx, initializer=initializer, initargs=(*initargs, barrier)
    )
    try:
        futures = [pool.submit(ready) for _ in range(processes)]
        return pool, [f.result(START_TIMEOUT * 2) for f in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
