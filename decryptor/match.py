"""Match: which candidate items hold the value a search term holds, answered without showing either value.

A lookup by beacon (store.find) gives candidates: a beacon is truncated on purpose, so unequal values
share it. The origin then asks the decryptor, with the term's ciphertext as the edge wrote it:

    {"match": {"field": "phone", "term": "AYAB...", "ids": ["<id>", ...]}}
        -> {"ids": [<the ids whose field equals the term>, in the order asked],
            "errors": [{"id": "<id>", "error": code}, ...]}
        -> {"ids": [], "errors": [], "error": code}        when the term itself cannot be used

The term and each candidate's stored field are decrypted (the same keystore and policy as every decrypt:
a key the keystore does not hold, a suite or size the policy refuses, is a reason, never a match), both
normalized by the field's index normalizer, and compared as UTF-8 bytes with hmac.compare_digest
(constant time for equal lengths). The normalizer is the one the config's "Fle:Indexes" gives the field
when the decryptor has a config (FLE_CONFIG): then the request need not name one, and one it names must
be the same. Without a config, the request names it ("normalize": "digits"), checked against blindindex's
normalizers. The term is decrypted first: when it fails, no candidate is decrypted.

One audit line per call (`fle.match`): caller, field, normalizer, how many candidates, how many matched
and which ids, the keys used, each failure's reason and detail; never the term, a plaintext or a
normalized value. Candidates are decrypted on the service's threads (at most MAX_CANDIDATES of them, fewer
than a batch worth starting processes for).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from blindindex import NormalizeError, Normalizer, UnknownNormalizer, get_normalizer
from esdk_format import is_message
from store import Submission

from .audit import AuditLog, Caller
from .core import Decrypted
from .errors import BadRequest, DecryptError, NotIndexed
from .events import MatchRequest
from .indexes import ConfigIndexes
from .reasons import Reason

DecryptMany = Callable[[Sequence[object]], list[Decrypted | DecryptError]]


class _NotNormalized(Exception):
    """The normalizer refuses the plaintext, or it is not UTF-8 (the message never holds the value)."""


def normalizer_for(request: MatchRequest, indexes: ConfigIndexes | None) -> Normalizer:
    """The normalizer the match compares with: the config's for the field, else the one the request names.
    NotIndexed when the config has no index on the field; BadRequest for a missing, unknown or different
    normalizer."""
    named: Normalizer | None = None
    if request.normalize is not None:
        try:
            named = get_normalizer(request.normalize)
        except UnknownNormalizer as e:
            raise BadRequest(str(e)) from None
    if indexes is None:
        if named is None:
            raise BadRequest(
                'name the field\'s normalizer ("normalize": "digits"), or give the decryptor the config '
                "(FLE_CONFIG / --config) whose Fle:Indexes names it"
            )
        return named
    index = indexes.by_field.get(request.field)
    if index is None:
        raise NotIndexed(f"the config has no blind index on field {request.field!r}")
    if named is not None and named.id != index.normalizer.id:
        raise BadRequest(
            f"field {request.field!r} is normalized by {index.normalizer.id} (the config's Fle:Indexes), "
            f"not {named.id}"
        )
    return index.normalizer


def _normalized(result: Decrypted, normalizer: Normalizer) -> bytes:
    try:
        return normalizer.apply(result.plaintext.decode("utf-8")).encode("utf-8")
    except (UnicodeDecodeError, NormalizeError):
        raise _NotNormalized(f"normalizer {normalizer.id} refuses the value (or it is not UTF-8)") from None


def _key(result: Decrypted) -> str:
    return f"{result.provider_id}/{result.key_name}"


def match(
    request: MatchRequest,
    normalizer: Normalizer,
    items: Callable[[Sequence[str]], Mapping[str, Submission]],
    decrypt_many: DecryptMany,
    audit: AuditLog,
    caller: Caller,
) -> dict[str, Any]:
    """The answer to a match (module docstring); `items(ids)` reads the store (StoreError), `decrypt_many`
    decrypts values without auditing each: this function writes the call's one audit line."""
    line: dict[str, Any] = {
        "event": "fle.match",
        "caller": caller.to_json(),
        "field": request.field,
        "normalize": normalizer.id,
        "candidates": len(request.ids),
    }
    keys: set[str] = set()
    (term,) = decrypt_many([request.term])
    try:
        if isinstance(term, DecryptError):
            raise term
        keys.add(_key(term))
        wanted = _normalized(term, normalizer)
    except (DecryptError, _NotNormalized) as e:
        reason = e.reason if isinstance(e, DecryptError) else Reason.NOT_NORMALIZED
        detail = e.audit_detail if isinstance(e, DecryptError) else str(e)
        audit.event({**line, "outcome": "refused", "matched": 0, "keys": sorted(keys),
                     "reason": str(reason), "detail": detail})  # fmt: skip
        return {"ids": [], "errors": [], "error": str(reason)}
    found = items(request.ids)
    errors: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []

    def fail(item_id: str, reason: Reason, detail: str) -> None:
        errors.append({"id": item_id, "error": str(reason)})
        failures.append({"id": item_id, "reason": str(reason), "detail": detail})

    work: list[str] = []
    for item_id in request.ids:
        item = found.get(item_id)
        if item is None:
            fail(item_id, Reason.NOT_FOUND, "no stored item with this id")
        elif request.field not in item.fields:
            fail(item_id, Reason.NO_FIELD, f"the item has no field {request.field!r}")
        elif not is_message(item.fields[request.field]):
            fail(item_id, Reason.NOT_A_MESSAGE, "the stored value is not an ESDK message; not compared")
        else:
            work.append(item_id)
    results = decrypt_many([found[item_id].fields[request.field] for item_id in work])
    matched: set[str] = set()
    for item_id, result in zip(work, results, strict=True):
        if isinstance(result, DecryptError):
            fail(item_id, result.reason, result.audit_detail)
            continue
        keys.add(_key(result))
        try:
            if hmac.compare_digest(_normalized(result, normalizer), wanted):
                matched.add(item_id)
        except _NotNormalized as e:
            fail(item_id, Reason.NOT_NORMALIZED, str(e))
    ids = [item_id for item_id in request.ids if item_id in matched]
    order = {item_id: n for n, item_id in enumerate(request.ids)}
    errors.sort(key=lambda e: order[e["id"]])
    failures.sort(key=lambda e: order[e["id"]])
    audit.event({**line, "outcome": "answered", "matched": len(ids), "matched_ids": ids,
                 "keys": sorted(keys), "failures": failures})  # fmt: skip
    return {"ids": ids, "errors": errors}
