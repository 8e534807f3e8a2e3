"""Storing one submission once, and what each store error means to the client."""

from __future__ import annotations

import json
import logging
import re

from aiohttp import web

from store import DuplicateItem, InvalidItem, ItemTooLarge, Store, StoreError, StoreUnavailable, Submission
from store.rules import MAX_ITEM_BYTES

from .ciphertext import encrypted_field_names

log = logging.getLogger("origin")

CLIENT_ID = re.compile(r"[0-9a-f]{32}")  # ids a client may choose: the shape of store.new_id()


class BadSubmission(Exception):
    """The client sent something the origin cannot store; the message says what to change."""


def submission(fields: dict[str, str], client_id: str | None) -> Submission:
    """The record for `fields` as received, with the names of those that arrived as ciphertext."""
    if client_id is not None and not CLIENT_ID.fullmatch(client_id):
        raise BadSubmission("a submission id is 32 lower-case hex digits")
    item = Submission(fields=fields, encrypted_fields=encrypted_field_names(fields))
    if client_id is None:
        return item
    return Submission(fields=item.fields, encrypted_fields=item.encrypted_fields, id=client_id)


async def store_once(store: Store, item: Submission) -> tuple[Submission, bool]:
    """Store `item`; if its id was stored before (the same form posted again), the first one and True.

    The edge encrypts afresh each time, so a repeated post has new ciphertext: the first version stands.
    """
    try:
        await store.put(item)
        return item, False
    except DuplicateItem:
        first = await store.get(item.id)
        if first is None:  # deleted between the two calls
            raise StoreUnavailable("the submission changed while it was being stored") from None
        return first, True


async def stored_item(store: Store, item_id: str, *, as_json: bool) -> Submission | None:
    """The item with this id, or None; a store failure becomes the refusal the client sees."""
    try:
        return await store.get(item_id)
    except StoreError as e:
        raise refusal(e, as_json=as_json) from e


def refusal(e: StoreError | BadSubmission, *, as_json: bool) -> web.HTTPException:
    """The HTTP answer for a failed store: 413/400 for the client's mistakes, 503 when the store is down."""
    reason = str(e)
    headers: dict[str, str] = {}
    if not isinstance(e, (InvalidItem, BadSubmission)):
        log.error("store failed: %s: %s", type(e).__name__, e)
        reason = "the submission could not be stored; try again"
        headers["Retry-After"] = "5"
    body = json.dumps({"error": reason}) if as_json else reason + "\n"
    content_type = "application/json" if as_json else "text/plain"
    if isinstance(e, ItemTooLarge):
        return web.HTTPRequestEntityTooLarge(
            MAX_ITEM_BYTES, MAX_ITEM_BYTES + 1, text=body, content_type=content_type
        )
    if isinstance(e, (InvalidItem, BadSubmission)):
        return web.HTTPBadRequest(text=body, content_type=content_type)
    return web.HTTPServiceUnavailable(text=body, content_type=content_type, headers=headers)
