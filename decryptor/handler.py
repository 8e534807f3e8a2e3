"""Lambda-style entry point: `lambda_handler(event, context)`.

Events (results are JSON-serialisable; errors are data, never exceptions):

    {"ciphertexts": ["AYAB...", ...]}
        -> {"results": [{"plaintext": "..."} | {"plaintext_base64": "..."} | {"error": "..."}, ...]}
    {"ids": ["<id>", ...]}                      (items read from the store named by FLE_STORE)
    {"recent": N}                               (the N newest items, same answer as "ids")
        -> {"items": [{"id": ..., "fields": {name: plaintext or value as stored},
                       "errors": {name: reason}}          (or "error": "no item with this id")
                   , ...]}

A plaintext that is not UTF-8 comes back as `plaintext_base64`. The keystore file is named by
FLE_KEYSTORE. A bad event gives {"error": reason}.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Sequence
from typing import Any

from keystore import Keystore, KeystoreError
from store import StoreError, Submission, open_store

from .core import DecryptError, Decryptor, looks_like_message

STORE_ENV = "FLE_STORE"
MAX_BATCH = 1000  # values or ids per event

_decryptors: dict[str, Decryptor] = {}


def _decryptor() -> Decryptor:
    """One Decryptor per keystore path, kept across invocations as a Lambda container keeps it."""
    path = os.environ.get("FLE_KEYSTORE", "")
    if path not in _decryptors:
        _decryptors[path] = Decryptor(Keystore.from_env())
    return _decryptors[path]


def _plaintext_result(plaintext: bytes) -> dict[str, str]:
    try:
        return {"plaintext": plaintext.decode("utf-8")}
    except UnicodeDecodeError:
        return {"plaintext_base64": base64.b64encode(plaintext).decode("ascii")}


def decrypt_values(decryptor: Decryptor, ciphertexts: Sequence[object]) -> list[dict[str, str]]:
    results: list[dict[str, str]] = []
    for value in ciphertexts:
        if not isinstance(value, str):
            results.append({"error": "expected a base64 string"})
            continue
        try:
            results.append(_plaintext_result(decryptor.decrypt(value)))
        except DecryptError as e:
            results.append({"error": e.reason})
    return results


def decrypt_item(decryptor: Decryptor, item: Submission) -> dict[str, Any]:
    fields: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in item.fields.items():
        if not looks_like_message(value):
            fields[name] = value
            continue
        try:
            result = _plaintext_result(decryptor.decrypt(value))
        except DecryptError as e:
            fields[name] = value
            errors[name] = e.reason
            continue
        fields[name] = result.get("plaintext", value)
        if "plaintext_base64" in result:
            errors[name] = "plaintext is not UTF-8; decrypt the value alone to get plaintext_base64"
    return {"id": item.id, "received_at": item.received_at, "fields": fields, "errors": errors}


async def _load(ids: Sequence[str] | None, recent: int = 0) -> list[Submission]:
    """The items with these ids (in order, missing ones left out), or the `recent` newest."""
    url = os.environ.get(STORE_ENV)
    if not url:
        raise StoreError(f"set {STORE_ENV} to the store URL (sqlite:///PATH or dynamodb://TABLE)")
    store = open_store(url)
    try:
        if ids is None:
            return await store.recent(recent)
        found = await store.get_many(ids)
        return [found[i] for i in ids if i in found]
    finally:
        await store.close()


def _check_list(event: dict[str, Any], key: str) -> list[Any] | str:
    values = event[key]
    if not isinstance(values, list):
        return f"{key!r} must be a list"
    if len(values) > MAX_BATCH:
        return f"at most {MAX_BATCH} {key} per event"
    return values


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Decrypt what the event asks for; see the module docstring for the shapes."""
    kinds = {"ciphertexts", "ids", "recent"} & set(event) if isinstance(event, dict) else set()
    if len(kinds) != 1:
        return {"error": 'expected an event with exactly one of "ciphertexts", "ids" or "recent"'}
    kind = kinds.pop()
    ids: list[str] | None = None
    recent = 0
    if kind == "recent":
        recent = event["recent"]
        if not isinstance(recent, int) or isinstance(recent, bool) or not 0 < recent <= MAX_BATCH:
            return {"error": f'"recent" must be an integer from 1 to {MAX_BATCH}'}
    else:
        values = _check_list(event, kind)
        if isinstance(values, str):
            return {"error": values}
        if kind == "ids":
            if not all(isinstance(i, str) and i for i in values):
                return {"error": '"ids" must be non-empty strings'}
            ids = values
    try:
        decryptor = _decryptor()
    except KeystoreError as e:
        return {"error": f"keystore: {e}"}
    if kind == "ciphertexts":
        return {"results": decrypt_values(decryptor, values)}
    try:
        found = {item.id: item for item in asyncio.run(_load(ids, recent))}
    except StoreError as e:
        return {"error": f"store: {e}"}
    order = ids if ids is not None else list(found)
    items = []
    for item_id in order:
        item = found.get(item_id)
        if item is None:
            items.append({"id": item_id, "fields": {}, "errors": {}, "error": "no item with this id"})
        else:
            items.append(decrypt_item(decryptor, item))
    return {"items": items}
