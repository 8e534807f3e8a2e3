"""Reveal with keys from every keystore backend (file, SoftHSM over PKCS#11, SSM on moto), the factories of
tests/fixtures_decryptor.py; and a key backend that is down (503, nothing forwarded)."""

from __future__ import annotations

import json
import socket
import urllib.parse
from pathlib import Path

import aiohttp
import pytest
from aws_encryption_sdk.identifiers import Algorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_decryptor import KeySpec, KeystoreFactory, proxy_encrypt, sdk_encrypt
from tests.reveal_support import bearer, make_pki, processor, reveal_running, write_routes

FORM = "application/x-www-form-urlencoded"


async def _post(url: str, body: str, content_type: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": content_type, **bearer()}
        async with session.post(url, data=body, headers=headers) as r:
            return r.status, await r.read()


async def test_every_backend_reveals_edge_and_sdk_ciphertext_and_refuses_other_keys(
    make_keystore: KeystoreFactory,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    keystore = make_keystore([KeySpec(rsa_key), KeySpec(other_rsa_key, key_name="OldKey")])
    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        async with reveal_running(routes, keystore, tmp_path / "audit.jsonl") as rev:
            edge = proxy_encrypt(rsa_key, b"4111111111111111")
            status, _ = await _post(f"{rev.url}/processor/c", f"card_number={urllib.parse.quote(edge)}", FORM)
            assert status == 201 and proc.seen[-1].body == b"card_number=4111111111111111"
            sdk = sdk_encrypt(
                [KeySpec(rsa_key)], b"378282246310005", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
            )
            status, _ = await _post(
                f"{rev.url}/processor/c", json.dumps({"card": {"number": sdk}}), "application/json"
            )
            assert status == 201 and json.loads(proc.seen[-1].body) == {"card": {"number": "378282246310005"}}
            other = proxy_encrypt(other_rsa_key, b"6011111111111117", name="OldKey")
            status, answer = await _post(
                f"{rev.url}/processor/c", f"card_number={urllib.parse.quote(other)}", FORM
            )
            assert (status, json.loads(answer)["error"]) == (403, "KeyNotAllowed") and len(proc.seen) == 2
            text = rev.audit.read_text()
            assert "4111111111111111" not in text and "378282246310005" not in text and "6011" not in text


@pytest.mark.parametrize("make_keystore", ["ssm_keystore_factory"], indirect=True)
async def test_a_key_backend_that_is_down_is_503_and_nothing_forwarded(
    make_keystore: KeystoreFactory,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keystore = make_keystore([KeySpec(rsa_key)])
    with socket.socket() as s:  # a loopback port nobody listens on: Parameter Store is unreachable
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{dead}")
    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        async with reveal_running(routes, keystore, tmp_path / "audit.jsonl") as rev:
            edge = proxy_encrypt(rsa_key, b"4111111111111111")
            status, answer = await _post(
                f"{rev.url}/processor/c", f"card_number={urllib.parse.quote(edge)}", FORM
            )
            assert (status, json.loads(answer)["error"]) == (503, "key_unavailable")
            assert proc.seen == []
            [line] = [json.loads(x) for x in rev.audit.read_text().splitlines()]
            assert (line["phase"], line["reason"]) == ("refused", "key_unavailable")


async def test_a_few_values_under_an_open_file_key_are_decrypted_on_the_loop_the_rest_on_threads(
    make_keystore: KeystoreFactory, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """reveal/app.py's rule: on the event loop only a body of at most `inline_values` values whose keys the
    file backend holds and has opened; a key's first use, more values, an HSM or SSM key: a decrypt thread."""
    import threading

    from decryptor import AuditLog, Decryptor
    from keystore import Keystore
    from reveal import load_routes
    from reveal.server import start_reveal
    from reveal.settings import RevealSettings

    threads: list[str] = []

    class Watched(Decryptor):  # the real decryptor; only notes which thread runs it
        def decrypt(self, ciphertext_b64: object):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return super().decrypt(ciphertext_b64)

    in_memory = request.node.callspec.params["make_keystore"] == "file_keystore_factory"
    keystore = make_keystore([KeySpec(rsa_key)])
    one = "card_number=" + urllib.parse.quote(proxy_encrypt(rsa_key, b"4111111111111111"), safe="")
    pki = make_pki(tmp_path / "pki")
    loop_thread = threading.current_thread().name
    async with processor(pki) as proc:
        routes = load_routes(write_routes(tmp_path, proc.url, ca_file=pki.ca))
        for settings, values, warm, on_loop in [
            (RevealSettings(), 1, False, False),  # the key's first use opens it (reads its file): a thread
            (RevealSettings(), 1, True, in_memory),
            (RevealSettings(), 2, True, in_memory),
            (RevealSettings(), 3, True, False),  # more than inline_values (2)
            (RevealSettings(inline_values=0), 1, True, False),
            (RevealSettings(inline_body=len(one) - 1), 1, True, False),
        ]:
            audit = AuditLog(str(tmp_path / "audit.jsonl"))
            listener, url = await start_reveal(
                routes, Watched(Keystore.from_file(keystore)), audit, "127.0.0.1", 0, settings=settings
            )
            try:
                if warm:
                    assert (await _post(f"{url}/processor/c", one, FORM))[0] == 201  # the key's first use
                threads.clear()
                status, _ = await _post(f"{url}/processor/c", "&".join([one] * values), FORM)
            finally:
                await listener.cleanup()
                audit.close()
            assert status == 201
            assert proc.seen[-1].body == b"&".join([b"card_number=4111111111111111"] * values)
            assert len(threads) == values
            if on_loop:
                assert threads == [loop_thread] * values
            else:
                assert all(t.startswith("fle-reveal") for t in threads), (settings, values, threads)
