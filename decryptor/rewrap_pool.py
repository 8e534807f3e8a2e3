"""Where `fle rewrap` re-wraps values: this process's threads, or worker processes for a large run.

A run with MIN_PROCESS_BATCH values or more to re-wrap (the decryptor's threshold, processes.py: starting
the workers costs about a second) goes to `processes` spawned workers (rewrap_processes.py) when more than
one is allowed and the keystore was opened from a file the workers can open too. The workers start in
the background as soon as the plan has counted that many values, so their start overlaps the rest of the
table scan. Where they cannot start (no semaphores, as on AWS Lambda) or one dies mid-run, the values go
to the threads with one warning; nothing was written for values whose outcome had not come back, so no
value is audited twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future, ThreadPoolExecutor

from keystore import Keystore

from .config import MIN_PROCESS_BATCH
from .rewrap import KeyRef, NewKey
from .rewrap_processes import ProcessRewrapper
from .rewrap_work import ValueOutcome, ValueRewrapper

log = logging.getLogger(__name__)


class RewrapPool:
    """Re-wraps values on `workers` threads, or on worker processes once `prepare` says a run is large."""

    def __init__(
        self,
        keystore: Keystore,
        old: KeyRef,
        new: NewKey,
        *,
        workers: int,
        processes: int = 1,
        keystore_path: str | None = None,
    ) -> None:
        self._values = ValueRewrapper(keystore, old, new)
        self._old, self._new = old, new
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="fle-rewrap")
        self._workers = workers
        self._processes_wanted = processes
        self._keystore_path = keystore_path
        self._use_processes = processes > 1 and keystore_path is not None
        self._starting: Future[ProcessRewrapper | None] | None = None
        self._processes: ProcessRewrapper | None = None
        # for tests and diagnostics only: the pids that re-wrapped values so far (this one's for threads),
        # and how long the worker processes took to start (spawn, imports, keystores opened)
        self.pids: set[int] = set()
        self.start_seconds: float | None = None

    def prepare(self, values: int) -> None:
        """`values` are to be re-wrapped at least: start the worker processes now if that is enough."""
        if self._use_processes and self._starting is None and values >= MIN_PROCESS_BATCH:
            self._starting = self._threads.submit(self._start)

    def _start(self) -> ProcessRewrapper | None:
        assert self._keystore_path is not None
        threads = max(1, -(-self._workers // self._processes_wanted))
        begun = time.monotonic()
        try:
            started = ProcessRewrapper(
                self._keystore_path, self._old, self._new, self._processes_wanted, threads
            )
        # no /dev/shm (Lambda), no sem_open; or a worker that cannot start (an unguarded __main__)
        except (OSError, NotImplementedError, ImportError, BrokenExecutor) as e:
            log.warning("re-wrapping on threads only: worker processes cannot start here (%s)", e)
            return None
        self.start_seconds = time.monotonic() - begun
        # DEBUG: on stderr an INFO line would break up the progress line or the audit lines there
        log.debug("re-wrapping on %d worker processes, %d threads each", started.processes, threads)
        return started

    async def _ready(self) -> ProcessRewrapper | None:
        if self._use_processes and self._processes is None and self._starting is not None:
            self._processes = await asyncio.wrap_future(self._starting)  # RewrapError: the key changed
            self._use_processes = self._processes is not None
        return self._processes if self._use_processes else None

    async def outcomes(self, values: Sequence[str]) -> list[ValueOutcome]:
        """Each value's outcome, in order."""
        processes = await self._ready()
        if processes is not None:
            try:
                chunks = await asyncio.gather(*(asyncio.wrap_future(f) for f in processes.submit(values)))
            except BrokenExecutor as e:  # a worker died (killed, out of memory): threads from now on
                log.warning("re-wrapping on threads only: a worker process stopped (%s)", type(e).__name__)
                self._stop_processes()
            else:
                found = [outcome for chunk in chunks for outcome in chunk]
                self.pids.update(outcome.pid for outcome in found)
                return found
        loop = asyncio.get_running_loop()
        found = await asyncio.gather(*(loop.run_in_executor(self._threads, self._values, v) for v in values))
        self.pids.update(outcome.pid for outcome in found)
        return found

    def _stop_processes(self) -> None:
        self._use_processes = False
        self._starting = None
        if self._processes is not None:
            self._processes.close()
            self._processes = None

    def close(self) -> None:
        self._threads.shutdown(wait=True)  # also waits for a start still under way
        if self._processes is None and self._starting is not None and self._starting.exception() is None:
            self._processes = self._starting.result()  # started, never used (the run stopped first)
        self._stop_processes()
