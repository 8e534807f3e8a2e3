"""`fle demo`'s charge step, in process with its real pieces: the form through the edge stores ciphertext;
"charge" on the answer page sends it through reveal to the fake processor, which shows the last four."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest

from edge_proxy import build_app as build_proxy
from edge_proxy import start_site
from fle.cmd_demo import prepare_state, start_charge_step
from fle.cmd_proxy import proxy_settings
from origin import build_app as build_origin
from store import open_store

PHONE = "+1 206 555 0147"


async def test_the_demo_charge_step_reveals_the_phone_only_to_the_processor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLE_KEY_PASSPHRASE", "demo-pass")
    state = tmp_path / "state"
    prepare_state(state)
    listeners, charge, audit = await start_charge_step(state, "127.0.0.1", 0, 0)
    store_url = f"sqlite:///{state / 'store.db'}"
    origin, origin_url = await start_site(
        build_origin(open_store(store_url), charge), "127.0.0.1", 0, auto_decompress=True
    )
    edge, edge_url = await start_site(
        build_proxy(proxy_settings(str(state / "config"), origin_url)), "127.0.0.1", 0
    )
    try:
        async with aiohttp.ClientSession() as session:
            form = {"name": "Ann", "email": "ann@example.com", "phone": PHONE}
            async with session.post(f"{edge_url}/submit", data=form) as r:
                assert r.status == 200
                item_id = r.headers["X-Submission-Id"]
                assert f'action="/submissions/{item_id}/charge"' in await r.text()
            async with session.get(f"{origin_url}/api/submissions/{item_id}") as r:
                stored = (await r.json())["fields"]["phone"]
                assert stored != PHONE and "0147" not in stored  # the origin holds ciphertext
            async with session.post(f"{edge_url}/submissions/{item_id}/charge") as r:
                page = await r.text()
                assert r.status == 200
        assert re.search(r'id="last4">0147<', page)
    finally:
        await edge.cleanup()
        await origin.cleanup()
        for listener in listeners:
            await listener.cleanup()
        audit.close()
    lines = [json.loads(line) for line in (state / "reveal-audit.jsonl").read_text().splitlines()]
    assert [(x["phase"], x["field"], x["upstream_status"]) for x in lines] == [
        ("sending", "phone", None),
        ("answered", "phone", 200),
    ]
    assert "0147" not in (state / "reveal-audit.jsonl").read_text()
