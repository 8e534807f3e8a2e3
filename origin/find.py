"""The find page: look submissions up by a protected value without ever seeing it.

    GET  /find[?field=NAME]     a form with one input, the field to search by (default `phone`)
    POST /find[?after=ID]       the search, as it arrives through the edge: the term's field is ciphertext
                                and the edge added its `<field>__bidx` beacon beside it

The origin reads the beacon sidecar, asks the store for the items whose sidecar holds it (`Store.find`)
and lists them: candidates, since beacons are truncated so that distinct values share them; the decryptor's
`match` tells the true ones. With `Accept: application/json` the answer is
`{"ids": [...], "field": "phone", "term": "<the term's ciphertext as received>"}`, plus `"capped": true`
when more than FIND_LIMIT items matched (ask again with `?after=<the last id>`).

More than one beacon for the term's field (during an index-key rotation, one per key: the sidecar repeated
in a form, or a JSON array of beacons) are all looked up and the union is listed. The origin never
decrypts: it holds no key, and never logs the term or its beacon.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from store import FIND_LIMIT, NoIndex, Store, StoreError
from store.beacons import BEACON, MAX_BEACONS, PREVIOUS_SUFFIX, SUFFIX, sidecar_name

from . import pages
from .saving import refusal

log = logging.getLogger("origin")

DEFAULT_FIELD = "phone"
FIELD_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fields the GET form offers to search by
MAX_FIND_BODY = 64 * 1024  # bytes: one term, its ciphertext and beacons


class BadSearch(Exception):
    """The search cannot be run; the message says why, never with the term or a beacon."""


@dataclass(frozen=True, slots=True)
class Search:
    """One search as received: the term's field, its value (ciphertext, through the edge), its beacons."""

    field: str
    term: str
    beacons: list[str]


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _error(status: type[web.HTTPException], reason: str, *, as_json: bool) -> web.HTTPException:
    if as_json:
        return status(text=json.dumps({"error": reason}), content_type="application/json")
    return status(text=reason + "\n", content_type="text/plain")


async def _posted(request: web.Request) -> dict[str, list[Any]]:
    """Every posted name with all its values, from a form, a multipart form or a JSON object."""
    if request.content_length is not None and request.content_length > MAX_FIND_BODY:
        raise BadSearch(f"a search is at most {MAX_FIND_BODY:,} bytes")
    if request.content_type == "application/json":
        try:
            document = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadSearch("the body is not valid JSON") from e
        if not isinstance(document, dict):
            raise BadSearch('the body must be a JSON object: {"phone": "...", "phone__bidx": "..."}')
        return {name: value if isinstance(value, list) else [value] for name, value in document.items()}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {name: form.getall(name) for name in form}
    raise BadSearch("send the search as application/x-www-form-urlencoded, multipart/form-data or JSON")


def read_search(posted: dict[str, list[Any]]) -> Search:
    """The search in a posted body: the one field with a beacon sidecar, its value and its beacons."""
    indexed = [name[: -len(SUFFIX)] for name in posted if name.endswith(SUFFIX)]
    if not indexed:
        named = sorted(posted)[:5]
        raise BadSearch(
            f"no {SUFFIX} beacon came with the search (fields {named}): the field searched by is not indexed "
            "at the edge (its profile has no Fle:Indexes entry for it), or the search did not come through "
            "the edge"
        )
    if len(indexed) > 1:
        raise BadSearch(f"search by one field at a time; beacons came for {sorted(indexed)}")
    field = indexed[0]
    # during an index-key rotation the edge adds the term's beacon under the old key: look both up
    beacons = posted[sidecar_name(field)] + posted.get(field + PREVIOUS_SUFFIX, [])
    if not all(isinstance(b, str) and BEACON.fullmatch(b) for b in beacons):
        raise BadSearch(f"{sidecar_name(field)} must be 1-16 lowercase hex digits (a beacon the edge wrote)")
    if not 1 <= len(set(beacons)) <= MAX_BEACONS:
        raise BadSearch(f"a search takes 1 to {MAX_BEACONS} beacons for its field")
    terms = posted.get(field, [])
    if len(terms) != 1 or not isinstance(terms[0], str) or not terms[0]:
        raise BadSearch(f"the search needs one value for {field!r}, the term its beacon was made from")
    return Search(field=field, term=terms[0], beacons=list(dict.fromkeys(beacons)))


async def find_form(request: web.Request) -> web.Response:
    field = request.query.get("field", DEFAULT_FIELD)
    if not FIELD_NAME.fullmatch(field) or field.endswith(SUFFIX):
        raise web.HTTPBadRequest(text="field is 1-64 characters of A-Z a-z 0-9 _ . - (not a sidecar)\n")
    return web.Response(text=pages.find_page(field), content_type="text/html")


def add_routes(app: web.Application, store_key: web.AppKey[Store]) -> None:
    async def find(request: web.Request) -> web.Response:
        as_json = _wants_json(request)
        after = request.query.get("after")
        try:
            search = read_search(await _posted(request))
            found = await request.app[store_key].find(search.field, search.beacons, after=after)
        except BadSearch as e:
            raise _error(web.HTTPBadRequest, str(e), as_json=as_json) from e
        except NoIndex as e:
            log.warning("find: %s", e)  # names the field and the index, never the term or a beacon
            raise _error(
                web.HTTPBadRequest, f"lookups on this field are not set up: {e}", as_json=as_json
            ) from e
        except ValueError as e:  # the store's own checks of the lookup
            raise _error(web.HTTPBadRequest, str(e), as_json=as_json) from e
        except StoreError as e:
            raise refusal(e, as_json=as_json) from e
        if as_json:
            answer: dict[str, Any] = {"ids": found.ids, "field": search.field, "term": search.term}
            if found.capped:
                answer["capped"] = True
            return web.json_response(answer, headers={"Cache-Control": "no-store"})
        page = pages.found_page(search.field, found.ids, capped=found.capped, limit=FIND_LIMIT)
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    app.router.add_get("/find", find_form)
    app.router.add_post("/find", find)


__all__ = ["BadSearch", "Search", "add_routes", "read_search"]
