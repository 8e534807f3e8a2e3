"""Direct-invoke events: what a caller may ask for, checked into a Request before anything is opened.

{"ciphertexts": ["AYAB...", ...]}     decrypt these base64 values, answer in order
{"ids": ["<id>", ...]}                decrypt the protected fields of these stored items
{"recent": N}                         the same for the N newest stored items
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import BadRequest

MAX_BATCH = 1000  # values or ids per event
KINDS = ("ciphertexts", "ids", "recent")


@dataclass(frozen=True, slots=True)
class Request:
    """One checked request: exactly one of `values` (ciphertexts), `ids`, `recent` is in use."""

    kind: Literal["ciphertexts", "ids", "recent"]
    values: tuple[object, ...] = ()
    ids: tuple[str, ...] = ()
    recent: int = 0


def parse_request(event: Any) -> Request:
    """The Request an event makes; BadRequest with the reason otherwise."""
    kinds = [k for k in KINDS if k in event] if isinstance(event, dict) else []
    if len(kinds) != 1:
        raise BadRequest('expected an event with exactly one of "ciphertexts", "ids" or "recent"')
    kind = kinds[0]
    if kind == "recent":
        recent = event["recent"]
        if not isinstance(recent, int) or isinstance(recent, bool) or not 0 < recent <= MAX_BATCH:
            raise BadRequest(f'"recent" must be an integer from 1 to {MAX_BATCH}')
        return Request("recent", recent=recent)
    values = event[kind]
    if not isinstance(values, list):
        raise BadRequest(f"{kind!r} must be a list")
    if len(values) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} {kind} per event")
    if kind == "ids":
        if not all(isinstance(i, str) and i for i in values):
            raise BadRequest('"ids" must be non-empty strings')
        return Request("ids", ids=tuple(values))
    return Request("ciphertexts", values=tuple(values))
