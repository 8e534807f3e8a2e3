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
