"""Direct-invoke events: what a caller may ask for, checked into a Request before anything is opened.

{"ciphertexts": ["AYAB...", ...]}     decrypt these base64 values, answer in order
{"ids": ["<id>", ...]}                decrypt the protected fields of these stored items
{"recent": N}                         the same for the N newest stored items
{"match": {"field": "phone", "term": "AYAB...", "ids": ["<id>", ...]}}
                                      which of these items hold the term's value (match.py); optional
                                      "normalize": "digits" when the decryptor has no config (FLE_CONFIG)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import BadRequest

MAX_BATCH = 1000  # values or ids per event
MAX_CANDIDATES = 1000  # candidate ids per match: the most one store lookup returns (store's MAX_FIND_LIMIT)
MAX_FIELD_NAME = 255  # characters of a field name (the store's limit, in bytes)
KINDS = ("ciphertexts", "ids", "recent", "match")
_MATCH_KEYS = {"field", "term", "ids"}
_MATCH_OPTIONAL = {"normalize"}


@dataclass(frozen=True, slots=True)
class MatchRequest:
    """Which of `ids` hold, in `field`, the value `term` (a ciphertext) holds, after normalization."""

    field: str
    term: object  # as received: the decryptor refuses a non-string as not_a_message, as it does any value
    ids: tuple[str, ...]  # distinct, in the order asked
    normalize: str | None = None  # the normalizer the request names (used when there is no config)


@dataclass(frozen=True, slots=True)
class Request:
    """One checked request: exactly one of `values` (ciphertexts), `ids`, `recent`, `match` is in use."""

    kind: Literal["ciphertexts", "ids", "recent", "match"]
    values: tuple[object, ...] = ()
    ids: tuple[str, ...] = ()
    recent: int = 0
    match: MatchRequest | None = None


def parse_match(body: Any) -> MatchRequest:
    """The MatchRequest a "match" object makes; BadRequest with the reason otherwise (never the term)."""
    if not isinstance(body, dict):
        raise BadRequest('"match" must be an object: {"field": ..., "term": ..., "ids": [...]}')
    missing = _MATCH_KEYS - set(body)
    unknown = set(body) - _MATCH_KEYS - _MATCH_OPTIONAL
    if missing or unknown:
        missed, extra = ", ".join(sorted(missing)) or "none", ", ".join(sorted(unknown)) or "none"
        raise BadRequest(
            f'"match" needs {", ".join(sorted(_MATCH_KEYS))} (and may name normalize); '
            f"missing: {missed}, unknown: {extra}"
        )
    field = body["field"]
    if not isinstance(field, str) or not field or len(field) > MAX_FIELD_NAME:
        raise BadRequest(f'"field" must be a field name of 1 to {MAX_FIELD_NAME} characters')
    ids = body["ids"]
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise BadRequest('"ids" must be a list of non-empty strings')
    unique = tuple(dict.fromkeys(ids))
    if not 1 <= len(unique) <= MAX_CANDIDATES:
        raise BadRequest(f"a match takes 1 to {MAX_CANDIDATES} candidate ids")
    normalize = body.get("normalize")
    if normalize is not None and not isinstance(normalize, str):
        raise BadRequest('"normalize" must be a normalizer name, e.g. "digits" or "digits/1"')
    return MatchRequest(field, body["term"], unique, normalize)


def parse_request(event: Any) -> Request:
    """The Request an event makes; BadRequest with the reason otherwise."""
    kinds = [k for k in KINDS if k in event] if isinstance(event, dict) else []
    if len(kinds) != 1:
        raise BadRequest('expected an event with exactly one of "ciphertexts", "ids", "recent" or "match"')
    kind = kinds[0]
    if kind == "match":
        return Request("match", match=parse_match(event["match"]))
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
