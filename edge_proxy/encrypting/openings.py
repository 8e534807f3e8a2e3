"""Messages opened ahead of their values, one pool per key and suite, each opening handed out once.

Most of an ESDK message does not depend on the value it will hold: the fresh data key and message id,
the RSA-OAEP wrapping of the data key, the derived content key, the header and its authentication tag
(`esdk.open_message`). Only the frames do. Measured in the running proxy, that part costs 3-4 times what
it costs in a tight loop (about 125 µs against 28 µs), because a request's own work runs on caches the
rest of the request, and the other processes, have just filled: the first opening after other work pays
most of that, the next ones little. A pool lets the edge make openings many at a time, back to back, on
the event loop a moment after requests took them; a request only seals its value into one it takes.

What does not change, and is tested (tests/esdk_format/test_openings.py):
- every message has its own data key, message id and content key; an opening is popped from the pool, so
  it is used for exactly one value, and never returned to it;
- nothing is shared across processes: a forked child forgets every opening its parent had made
  (`os.register_at_fork`), so two workers never hold the same key (which would reuse an AES-GCM nonce);
- nothing is written anywhere: openings live in this process's memory only, where the values they will
  protect also pass in plaintext, so holding a few content keys ahead adds no reader the proxy did not
  already have;
- with an empty pool, or outside an event loop (the CLI), a value opens its own message inline; takes in
  a thread (a rewrite that calls a token runs off the loop) are refilled once the loop calls `arm`.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections import deque
from collections.abc import Callable

from .esdk import Opening

DEFAULT_AHEAD = 32
# A refill runs this long after the take that asked for it: under load the takes of that time are made
# back to back in one callback (measured in the proxy: 36 µs an opening in batches of ~18, 49 µs in
# batches of ~3, against 28 µs in a tight loop and ~125 µs made inline), and a request that arrives alone
# has had its answer before the loop makes its replacement.
_DELAY = 0.002
_BATCH = 16  # at most this many per callback (~0.6 ms of the loop), the rest in the next one

Counted = Callable[[str, int], None]  # (when: "ahead" or "inline", how many)

_pools: weakref.WeakSet[Openings] = weakref.WeakSet()


class Openings:
    """Up to `ahead` openings of one key and suite, refilled on the event loop shortly after a take."""

    __slots__ = (
        "__weakref__",
        "_ahead",
        "_counted",
        "_open",
        "_ready",
        "_scheduled",
        "_wanted",
        "made_inline",
    )

    def __init__(
        self, open_one: Callable[[], Opening], ahead: int = DEFAULT_AHEAD, counted: Counted | None = None
    ) -> None:
        """`counted(when, n)`: told of every `n` openings made, `when` "ahead" or "inline" (the metrics)."""
        if ahead < 0:
            raise ValueError("ahead must be 0 (off) or more")
        self._ready: deque[Opening] = deque()
        self._open = open_one
        self._ahead = ahead
        self._counted = counted
        self._scheduled = False
        self._wanted = False  # taken from a thread with no loop: `arm` makes the refill, on the loop
        self.made_inline = 0  # takes that found the pool empty (read by tests and benchmarks)
        _pools.add(self)

    def __len__(self) -> int:
        return len(self._ready)

    def take(self) -> Opening:
        """An opening no one else has had: from the pool, or made now when it is empty."""
        try:
            opening = self._ready.popleft()
        except IndexError:
            self.made_inline += 1
            opening = self._open()
            if self._counted is not None:
                self._counted("inline", 1)
        if not self._scheduled and self._ahead:
            self._schedule()
        return opening

    def arm(self) -> None:
        """On the event loop, after takes made in a thread without one (a rewrite run off the loop because
        it calls a token): arm the refill those takes could not."""
        if self._wanted and not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: the refill waits for `arm` (else none is made)
            self._wanted = True
            return
        self._wanted = False
        self._scheduled = True
        loop.call_later(_DELAY, self._refill)

    def _refill(self) -> None:
        self._scheduled = False
        made = min(self._ahead - len(self._ready), _BATCH)
        for _ in range(made):
            self._ready.append(self._open())
        if self._counted is not None and made > 0:
            self._counted("ahead", made)
        if len(self._ready) < self._ahead:
            self._schedule()

    def forget(self) -> None:
        """Drop every opening made so far (a forked child must never use its parent's)."""
        self._ready.clear()
        self._scheduled = self._wanted = False


def _forget_all_in_child() -> None:
    for pool in list(_pools):
        pool.forget()


os.register_at_fork(after_in_child=_forget_all_in_child)
