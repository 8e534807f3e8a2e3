"""One stored value re-wrapped, with its outcome as plain data that can cross a process boundary.

`fle rewrap` re-wraps on this process's threads or, for a large run, on worker processes
(rewrap_processes.py). Both call the same ValueRewrapper and get the same ValueOutcome back, so a run's
results, reasons and audit lines do not depend on where the work ran. An outcome holds the re-wrapped
base64 value (ciphertext, as stored) or a reason in words (never key material), and whether the old key's
backend was unavailable: an exception's cause would not survive pickling, so that is said explicitly.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from keystore import BackendUnavailable, Keystore

from .rewrap import KeyRef, NewKey, RewrapError, rewrap


@dataclass(frozen=True, slots=True)
class ValueOutcome:
    """A value's re-wrapped base64 text, or why not; `pid` is the process that did it (for diagnostics)."""

    value: str | None = None
    reason: str | None = None  # set when value is None
    unavailable: str | None = None  # the old key's backend is down (its error text): the run stops
    pid: int = 0


class ValueRewrapper:
    """The old key's backend and the new key from one keystore; re-wraps base64 values (blocking)."""

    def __init__(self, keystore: Keystore, old: KeyRef, new: NewKey) -> None:
        self.old = old
        self.new = new
        self._entry = keystore.entry(old.provider_id, old.key_name)
        self._backend = keystore.backend(old.provider_id, old.key_name)

    def _unwrap(self, wrapped: bytes) -> bytes:
        return self._backend.unwrap(wrapped, self._entry.wrapping)

    def __call__(self, value: str) -> ValueOutcome:
        pid = os.getpid()
        try:
            message = base64.b64decode(value, validate=True)
            rewrapped = rewrap(message, self.old, self.new, self._unwrap)
            if rewrapped is None:  # planned, but someone re-wrapped it meanwhile
                raise RewrapError("the value no longer names the old key")
        except RewrapError as e:
            cause = e.__cause__
            unavailable = str(cause) if isinstance(cause, BackendUnavailable) else None
            return ValueOutcome(reason=str(e), unavailable=unavailable, pid=pid)
        except Exception as e:  # never the value or a traceback: the type says enough to look further
            return ValueOutcome(reason=f"unexpected {type(e).__name__}", pid=pid)
        return ValueOutcome(value=base64.b64encode(rewrapped).decode("ascii"), pid=pid)
