"""N pre-forked workers of any service of ours with one admin listener for all: `fle proxy --workers N`
(process.run_workers) and `fle reveal --workers N` (fle/cmd_reveal.py).

The parent binds the port (workers.py), makes the run's metrics files (shared_metrics.py) and serves /healthz,
/readyz and one /metrics over all workers (parent_admin.py) while it supervises. In each worker, after the
fork and before the service makes its metrics or opens anything, the parent's admin descriptors are closed
and metrics are switched to the shared files; then `serve_worker` runs the service on the shared port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from . import workers
from .listen import CannotListen
from .loops import ASYNCIO, LoopChoice
from .parent_admin import AdminServer, workers_admin
from .shared_metrics import SharedMetrics

log = logging.getLogger("fle")


def run_prefork(
    serve_worker: Callable[[workers.WorkerSlot], Coroutine[Any, Any, None]],
    host: str,
    port: int,
    admin_address: tuple[str, int] | None,
    count: int,
    on_ready: Callable[[str], None],
    *,
    stop_timeout: float,
    loop: LoopChoice = ASYNCIO,
) -> int:
    """Run `serve_worker` in `count` workers on host:port until SIGTERM/SIGINT; returns the exit code.

    `serve_worker` must serve with SO_REUSEPORT on slot.port and call slot.ready() once it listens;
    `on_ready` gets the (plain http) URL once every worker does; a worker gets `stop_timeout` seconds after
    SIGTERM before SIGKILL. WorkersError when the workers cannot be run, CannotListen for the admin address.
    """
    if count < 1:  # before anything is bound or made
        raise workers.WorkersError("--workers must be at least 1")
    status = workers.Status(count)
    shared: SharedMetrics | None = None
    admin: AdminServer | None = None
    parent = workers.Parent()
    if admin_address is not None:
        shared = SharedMetrics()
        try:
            admin = workers_admin(admin_address, status, shared)
        except OSError as e:
            shared.close()
            raise CannotListen("admin", *admin_address, e) from e
        parent = workers.Parent(idle=admin.poll, worker_exited=shared.worker_gone)

    async def serve(slot: workers.WorkerSlot) -> None:
        if admin is not None and shared is not None:  # the parent's: close this copy, write shared files
            admin.forget()
            shared.use_in_this_process()
        await serve_worker(slot)

    if admin is not None:
        log.info("admin listening on %s (/healthz /readyz /metrics for all %d workers)", admin.url, count)
    plan = workers.WorkerPlan(host, port, count, stop_timeout=stop_timeout, loop_factory=loop.factory)
    try:
        return workers.run(serve, plan, on_ready, parent, status)
    finally:
        if admin is not None:
            admin.close()
        if shared is not None:
            shared.close()
