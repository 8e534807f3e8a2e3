"""What the origin stores for one form submission."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime


def new_id() -> str:
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Submission:
    """One stored submission: every field exactly as the origin received it (ciphertext included).

    Metadata: `received_at` (when the origin stored it) and `encrypted_fields` (the names of the fields
    that arrived as ciphertext, in the order they arrived).
    """

    fields: dict[str, str]
    id: str = field(default_factory=new_id)
    received_at: str = field(default_factory=now_iso)  # ISO 8601, UTC, millisecond precision
    encrypted_fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "fields": dict(self.fields),
            "encrypted_fields": list(self.encrypted_fields),
        }
