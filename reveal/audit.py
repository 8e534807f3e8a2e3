"""Reveal's audit lines: one per revealed value before the request goes out, one per value after.

    {"time": "...", "event": "fle.reveal", "phase": "sending", "request_id": "9c1e...",
     "caller": "billing", "route": "processor", "field": "card_number",
     "provider_id": "FLEDemo", "key_name": "DemoPublicKey", "upstream_status": null}

Why two lines: "written before the request goes out" is the promise (a crash or a hang after the send
must still leave a trace of the plaintext that left), and the upstream's status is known only after. The
second line (`phase` "answered", or "failed" with a `reason`) carries the same request_id and field. A
request refused while its fields were opened, or for its path (`PathRefused`, before anything is read),
writes one line of phase "refused" with the reason and its detail. The
lines go through decryptor.AuditLog (whole JSON lines under a lock, flushed; a phase's lines for all of a
request's values in one write). No plaintext and
no ciphertext is ever passed here: only names.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Sequence

from decryptor import AuditLog

from .fields import Revealed

_PROCESS = uuid.uuid4().hex[:16]  # random per process: ids of two reveal processes never meet
_SEQUENCE = itertools.count()


def _new_process() -> None:
    global _PROCESS, _SEQUENCE
    _PROCESS, _SEQUENCE = uuid.uuid4().hex[:16], itertools.count()


os.register_at_fork(after_in_child=_new_process)  # a forked child draws its own random half


def request_id() -> str:
    """A new request id, 32 hex digits as uuid4().hex was: this process's random half, then a counter.

    Unique, not secret (it is written to the audit lines to tie them together). A uuid4 per request read
    the system's random source each time, a system call that made the event loop wait for the GIL behind
    the decrypt threads (about 0.2 ms per request under load, benchmarks.bench_reveal).
    """
    return f"{_PROCESS}{next(_SEQUENCE):016x}"


def record(
    log: AuditLog,
    phase: str,
    request_id: str,
    caller: str,
    route: str,
    revealed: Sequence[Revealed],
    upstream_status: int | None = None,
    reason: str | None = None,
) -> None:
    """One line per revealed value, all of them in one write (flushed before this returns)."""
    lines = []
    for value in revealed:
        line = {
            "event": "fle.reveal",
            "phase": phase,
            "request_id": request_id,
            "caller": caller,
            "route": route,
            "field": value.field,
            "provider_id": value.provider_id,
            "key_name": value.key_name,
            "upstream_status": upstream_status,
        }
        if reason is not None:
            line["reason"] = reason
        lines.append(line)
    log.events(lines)


def refused(log: AuditLog, request_id: str, caller: str, route: str | None, reason: str, detail: str) -> None:
    """A request refused while its fields were being opened (wrong key, tampered, backend down), or a path
    refused (`PathRefused`: route is the one whose prefix the path claims, None when none)."""
    log.event({
        "event": "fle.reveal", "phase": "refused", "request_id": request_id, "caller": caller,
        "route": route, "reason": reason, "detail": detail,
    })  # fmt: skip
