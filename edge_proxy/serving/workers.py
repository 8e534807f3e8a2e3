"""Run a server in N pre-forked worker processes that share a port with SO_REUSEPORT.

Why this model: one Python process uses one core, and encryption is CPU work. Every worker opens its own
listening socket on the same address with SO_REUSEPORT, so the kernel spreads new connections across them
without a shared accept lock. The parent first binds (without listening) to resolve port 0 and to hold the
port while workers come and go; it serves no proxy traffic itself. It forks before any event loop or thread
exists, waits for every worker to report ready, restarts a worker that dies, and on SIGTERM or SIGINT stops
them all (SIGTERM, then SIGKILL after a grace period). SIGHUP is passed on to every worker (config reload).

The parent's own work (the admin listener of parent_admin.py) runs in `Parent.idle`, called wherever the
supervisor would otherwise sleep; it sees the workers through `Status` and hears of every exit through
`Parent.worker_exited` (shared_metrics.py drops a dead worker's live gauges there).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("fle.workers")  # the name the logs have always shown

_READY = b"R"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class WorkersError(Exception):
    """The worker processes could not be started or kept running."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """How to run the workers: where to listen, how many, and the grace period on shutdown."""

    host: str
    port: int
    workers: int
    stop_timeout: float = 10.0  # seconds a worker gets to finish after SIGTERM before SIGKILL
    start_timeout: float = 30.0  # seconds every worker gets to start listening
    max_restarts: int = 5  # crashed workers restarted per minute before giving up
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop  # each worker's own loop


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """What one worker is told: its index, the shared (resolved) port, and how to say it is listening."""

    index: int
    host: str
    port: int
    ready: Callable[[], None]


@dataclass(slots=True)
class Status:
    """What the parent knows about its workers, kept up to date by the supervisor (for /readyz)."""

    wanted: int
    ready: int = 0  # workers that said they listen and have not exited since
    stopping: bool = False  # SIGTERM/SIGINT received: the workers are draining


@dataclass(frozen=True, slots=True)
class Parent:
    """The parent's own work while it supervises: `idle(seconds)` must return within about `seconds`."""

    idle: Callable[[float], None] = time.sleep
    worker_exited: Callable[[int], None] = lambda pid: None


ServeWorker = Callable[[WorkerSlot], Coroutine[Any, Any, None]]
"""Runs one worker's server on slot.host:slot.port with SO_REUSEPORT until SIGTERM/SIGINT."""


def default_workers() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker_main(serve_worker: ServeWorker, index: int, plan: WorkerPlan, ready_fd: int) -> None:
    """Body of one worker process: serve on the shared port until SIGTERM/SIGINT."""

    def ready() -> None:
        os.write(ready_fd, _READY)
        os.close(ready_fd)

    with contextlib.suppress(KeyboardInterrupt):
        with asyncio.Runner(loop_factory=plan.loop_factory) as runner:  # 3.11's asyncio.run has no factory
            runner.run(serve_worker(WorkerSlot(index, plan.host, plan.port, ready)))


def _die_with_parent(parent: int) -> None:
    """A worker does not outlive its supervisor. Were the parent killed outright (SIGKILL, the OOM killer),
    an orphaned worker would go on serving the shared port with the config it had, unsupervised and
    unstoppable by the unit's stop command; so the kernel is asked to send the worker SIGTERM when the
    parent dies (Linux's PR_SET_PDEATHSIG; gunicorn's workers watch getppid() for the same reason), and a
    parent that died before the request was made is caught by getppid() right after it. The parent forks
    from its main thread, which lives as long as it does (the signal follows the forking thread)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("worker: cannot ask to stop with the parent (prctl errno %d)", ctypes.get_errno())
    if os.getppid() != parent:
        os._exit(1)


class _Supervisor:
    def __init__(self, serve_worker: ServeWorker, plan: WorkerPlan, parent: Parent, status: Status) -> None:
        self.serve_worker = serve_worker
        self.plan = plan
        self.parent = parent
        self.status = status
        self.children: dict[int, int] = {}  # pid -> worker index
        self.ready: set[int] = set()  # pids that reported ready
        self.stopping = False
        self.restarts: list[float] = []

    def spawn(self, index: int) -> tuple[int, int]:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_fd)
            code = 0
            try:
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                _die_with_parent(parent)
                _worker_main(self.serve_worker, index, self.plan, write_fd)
            except BaseException:
                log.exception("worker %d failed", index)
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write_fd)
        self.children[pid] = index
        return pid, read_fd

    def wait_ready(self, pending: dict[int, int]) -> None:
        deadline = time.monotonic() + self.plan.start_timeout
        for pid, read_fd in pending.items():
            try:
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise WorkersError(f"worker {pid} did not start within {self.plan.start_timeout}s")
                    readable, _, _ = select.select([read_fd], [], [], 0)
                    if readable:
                        if os.read(read_fd, 1) != _READY:
                            raise WorkersError(f"worker {pid} exited before listening")
                        if pid in self.children:
                            self.ready.add(pid)
                            self.status.ready = len(self.ready)
                        break
                    self.parent.idle(min(remaining, 0.05))
            finally:
                os.close(read_fd)

    def stop_all(self) -> None:
        self.stopping = self.status.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.plan.stop_timeout
        while self.children and time.monotonic() < deadline:
            self.reap(block=False)
            self.parent.idle(0.05)
        for pid in list(self.children):
            log.warning("worker %d did not stop in %.0fs; killing it", pid, self.plan.stop_timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.children.pop(pid, None)
            self.gone(pid)

    def gone(self, pid: int) -> None:
        self.ready.discard(pid)
        self.status.ready = len(self.ready)
        self.parent.worker_exited(pid)

    def reap(self, block: bool) -> list[tuple[int, int, int]]:
        """Collect exited workers: (pid, index, exit status)."""
        gone = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            index = self.children.pop(pid, -1)
            self.gone(pid)
            gone.append((pid, index, os.waitstatus_to_exitcode(status)))
            block = False
        return gone

    def restart_allowed(self) -> bool:
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 60.0]
        self.restarts.append(now)
        return len(self.restarts) <= self.plan.max_restarts


def run(
    serve_worker: ServeWorker,
    plan: WorkerPlan,
    on_ready: Callable[[str], None],
    parent: Parent | None = None,
    status: Status | None = None,
) -> int:
    """Run `serve_worker` in `plan.workers` processes until SIGTERM/SIGINT; returns the exit code.

    `serve_worker` runs in each worker after the fork. `on_ready` gets the URL once all workers listen.
    `parent` does the parent's own work between checks; `status` is kept up to date for it.
    """
    if plan.workers < 1:
        raise WorkersError("--workers must be at least 1")
    try:
        holder = _reuse_port_socket(plan.host, plan.port)
    except OSError as e:
        raise WorkersError(f"cannot bind {plan.host}:{plan.port}: {e.strerror}") from e
    port = holder.getsockname()[1]
    plan = dataclasses.replace(plan, port=port)
    supervisor = _Supervisor(serve_worker, plan, parent or Parent(), status or Status(plan.workers))

    # an Event, not a local bool: the signal handler sets it between any two lines of the loop below (a
    # bool read twice there looks constant to mypy, which then calls the inner check unreachable)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    def pass_on(signum: int, frame: object) -> None:
        for pid in list(supervisor.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, pass_on)
    try:
        try:
            supervisor.wait_ready(dict(supervisor.spawn(i) for i in range(plan.workers)))
        except WorkersError:
            supervisor.stop_all()
            raise
        host = f"[{plan.host}]" if ":" in plan.host else plan.host
        on_ready(f"http://{host}:{port}")
        while not stop_requested.is_set():
            for pid, index, code in supervisor.reap(block=False):
                if stop_requested.is_set():
                    break
                log.error("worker %d (pid %d) exited with status %d", index, pid, code)
                if not supervisor.restart_allowed():
                    log.error("workers keep failing; stopping")
                    supervisor.stop_all()
                    return 1
                supervisor.wait_ready(dict([supervisor.spawn(index)]))
            supervisor.parent.idle(0.1)
        supervisor.stop_all()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        holder.close()
