"""One set of Prometheus metrics for all `fle proxy --workers N` processes: prometheus-client multiprocess.

Why this and not the parent scraping each worker: a worker keeps every value in a small memory-mapped file
(one per worker and metric type) that it updates on each increment, and the parent reads all the files when
`/metrics` is scraped. A value written there survives the worker: when a worker is killed, even by SIGKILL,
its counters and histograms stay in its files and keep being added in, and the replacement starts new files
under its own pid, so nothing is lost and nothing is counted twice. A parent that scraped workers over private
ports or pipes would lose whatever a dying worker had counted since the last scrape, and would need its own
event loop or threads next to `fork()`. This is also how gunicorn deployments do it.

What it costs and how it is kept in bounds:
- The directory is private to one run: `mkdtemp` (mode 0700, owned by the proxy's user) made by the parent
  before any worker starts, so no file of an earlier run is added in, and removed when the parent exits. A
  parent killed with SIGKILL leaves it behind in the temp directory (a few KiB per worker ever started).
- Gauges need a rule to combine workers, given where they are declared (pipeline/metrics.py): in-flight
  requests are summed over live workers (`livesum`), the config timestamp is the oldest a live worker uses
  (`livemin`). The parent calls `worker_gone(pid)` for every worker that exits, which deletes that worker's
  live-gauge file, so a killed worker's in-flight requests do not stay counted.
- The switch is made in the worker after `fork()` and before its metrics exist (`use_in_this_process`):
  prometheus-client picks its value class from `PROMETHEUS_MULTIPROC_DIR` once, at import, which is too early
  for a command that decides the number of workers from its arguments. `--workers 1` never switches: one
  process, its own registry, exactly as before.
- The `*_created` samples (creation timestamps) do not exist in multiprocess mode; every other series has the
  same name and labels as with one process.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

_ENV = "PROMETHEUS_MULTIPROC_DIR"


class SharedMetrics:
    """The metric files of one run of the workers: made by the parent, written by workers, read on scrape."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="fle-metrics-")  # mode 0700
        self._registry = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(self._registry, path=self.path)

    def use_in_this_process(self) -> None:
        """In a worker, after fork and before any metric is made: keep every value in this run's files."""
        os.environ[_ENV] = self.path
        pid = os.getpid()  # a worker never forks: no need for a getpid() system call on every increment
        values.ValueClass = values.MultiProcessValue(lambda: pid)

    def exposition(self) -> bytes:
        """Every worker's series, live and dead ones' counters added up, in the text exposition format."""
        return generate_latest(self._registry)

    def worker_gone(self, pid: int) -> None:
        """A worker exited: its live gauges (in-flight requests) stop counting; its counters stay."""
        mark_process_dead(pid, self.path)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
