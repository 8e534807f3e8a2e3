"""The audit log: one JSON line per protected value the decryptor was asked to open, never its plaintext.

    {"time": "2026-11-23T16:00:00.123Z", "event": "fle.decrypt", "outcome": "decrypted",
     "caller": {"source": "apigateway-http", "request_id": "...", "source_ip": "...", ...},
     "item_id": "3f2a...", "field": "phone", "index": null,
     "provider_id": "FLEDemo", "key_name": "DemoPublicKey", "suite": "0x0178"}

`outcome` is "decrypted" or "refused" (then with `reason`, the code the caller saw, and `detail`, what
went wrong inside: the only place that says it). Lines go to stdout by default, which is what Lambda
sends to CloudWatch Logs, or are appended to a file. Each line is written whole under a lock and
flushed, so threads never interleave.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from esdk_format import suite_name

from .core import Decrypted
from .errors import DecryptError, DecryptorConfigError


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked: `source` (lambda, apigateway-rest, apigateway-http, cli) and what that source tells."""

    source: str
    details: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, **self.details}


@dataclass(frozen=True, slots=True)
class Subject:
    """Which value: a stored item's field, or the n-th value of a `ciphertexts` event."""

    item_id: str | None = None
    field: str | None = None
    index: int | None = None


# a write to a pipe (stdout read by a log collector, several worker processes writing) of at most PIPE_BUF
# bytes is never interleaved with another process's; a regular file opened O_APPEND takes any write whole
_ATOMIC_WRITE = 4096


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Writes audit records as JSON lines to stdout (looked up at each write) or to a file; thread-safe."""

    def __init__(self, path: str | None = None, stream: TextIO | None = None) -> None:
        self.path = path
        self._stream = stream
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        if path:
            try:
                self._file = Path(path).open("a", encoding="utf-8")  # noqa: SIM115 - kept open, closed in close()
            except OSError as e:
                raise DecryptorConfigError(f"cannot open audit file {path!r}: {e.strerror}") from e

    def _out(self) -> TextIO:
        return self._file or self._stream or sys.stdout

    def record(
        self, caller: Caller, subject: Subject, result: Decrypted | DecryptError, time: str | None = None
    ) -> None:
        """Write the line for one value (the plaintext in `result` is never read here)."""
        self.records(caller, ((subject, result),), time)

    def records(
        self,
        caller: Caller,
        results: Iterable[tuple[Subject, Decrypted | DecryptError]],
        time: str | None = None,
    ) -> None:
        """Write the lines of several values together (a chunk of a batch), as `events` writes its lines."""
        self._write([_value_line(caller, subject, result) for subject, result in results], time)

    def event(self, line: dict[str, Any]) -> None:
        """Write a record of another event (e.g. `fle.rewrap`), `time` first; the caller keeps values out."""
        self.events((line,))

    def events(self, lines: Iterable[dict[str, Any]]) -> None:
        """Write records of other events together (reveal writes a request's values' lines so)."""
        self._write(lines)

    def _write(self, lines: Iterable[dict[str, Any]], time: str | None = None) -> None:
        """One time, `time` first in every line; whole lines, never interleaved with another thread's, in as
        few writes as keep each one at most PIPE_BUF bytes (a line longer than that is a write of its own,
        as every line used to be), each flushed before this returns."""
        now = time or _now()
        texts = [json.dumps({"time": now, **line}, ensure_ascii=False) + "\n" for line in lines]
        with self._lock:
            out = self._out()
            chunk, size = "", 0
            for text in texts:
                length = len(text.encode("utf-8"))
                if chunk and size + length > _ATOMIC_WRITE:
                    out.write(chunk)
                    out.flush()
                    chunk, size = "", 0
                chunk, size = chunk + text, size + length
            if chunk:
                out.write(chunk)
                out.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _value_line(caller: Caller, subject: Subject, result: Decrypted | DecryptError) -> dict[str, Any]:
    """The audit line of one value, without its time (the plaintext in `result` is never read here)."""
    line: dict[str, Any] = {
        "event": "fle.decrypt",
        "outcome": "decrypted" if isinstance(result, Decrypted) else "refused",
        "caller": caller.to_json(),
        "item_id": subject.item_id,
        "field": subject.field,
        "index": subject.index,
    }
    if isinstance(result, Decrypted):
        line.update(provider_id=result.provider_id, key_name=result.key_name, suite=suite_name(result.suite))
    else:
        provider_id, key_name = result.key or (None, None)
        line.update(
            provider_id=provider_id,
            key_name=key_name,
            suite=suite_name(result.suite) if result.suite is not None else None,
            reason=str(result.reason),
            detail=result.audit_detail,
        )
    return line
