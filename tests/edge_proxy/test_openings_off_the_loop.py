"""Messages opened ahead on the path that runs off the event loop: a profile whose blind index key is in an
HSM token rewrites its bodies in a thread (the token's HMAC blocks), where no refill can be armed. The
pipeline arms it back on the loop, for a whole form and for a streamed multipart body alike."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex.keys import IndexKeys
from tests.decryptor.index_support import make_indexed_config
from tests.e2e.test_blind_index_lookups import token_index_keys
from tests.fixtures_process import eventually_async
from tests.fixtures_proxy import Canary, proxy_stack
from tests.fixtures_softhsm import PIN, PIN_ENV, SoftHsm


async def test_a_rewrite_in_a_thread_still_gets_messages_opened_ahead(
    canary: Canary,
    rsa_key: rsa.RSAPrivateKey,
    softhsm: SoftHsm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PIN_ENV, PIN)
    config_dir = make_indexed_config(tmp_path / "config", rsa_key)
    keys = IndexKeys.load(token_index_keys(tmp_path / "keys", softhsm))
    canary.protect("404-555-0150", "404-555-0177", "404-555-0188")
    multipart = aiohttp.FormData()
    multipart.add_field("phone", "404-555-0188")
    try:
        async with (
            proxy_stack(canary, config_dir, index_keys=keys) as stack,
            aiohttp.ClientSession() as session,
        ):
            assert stack.runtime.live.compiled.blocking(stack.runtime.live.config.profiles[0])

            def opened(when: str) -> float:
                return stack.sample("fle_proxy_messages_opened_total", when=when)

            async def post(data: object) -> None:
                async with session.post(f"{stack.url}/x", data=data) as response:
                    assert response.status == 200, await response.text()

            await post({"phone": "404-555-0150"})  # a form, rewritten whole in a thread
            await eventually_async(lambda: opened("ahead") == 32, timeout=10)
            await post({"phone": "404-555-0177"})  # from the pool; its replacement armed on the loop
            await eventually_async(lambda: opened("ahead") >= 33, timeout=10)
            await post(multipart)  # multipart, streamed through the thread
            await eventually_async(lambda: opened("ahead") >= 34, timeout=10)
            assert opened("inline") == 1  # only the very first value found the pool empty
            assert stack.sample("fle_proxy_fields_encrypted_total") == 3
    finally:
        keys.close()
    assert b"phone__bidx" in canary.last.body  # the token's beacon was written: the blocking path ran
