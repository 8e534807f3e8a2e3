"""`fle reveal` as a process: TLS on its listener, keystore from FLE_KEYSTORE, a charge reaching the fake
processor in plaintext, audit lines in --audit-file, a clean stop on SIGINT."""

from __future__ import annotations

import json
import signal
import ssl
import urllib.parse
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_decryptor import proxy_encrypt
from tests.fixtures_process import fle
from tests.helpers import write_file_keystore
from tests.reveal_support import bearer, make_pki, processor, write_routes


async def test_fle_reveal_serves_tls_reveals_to_the_processor_and_stops(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pki = make_pki(tmp_path / "pki")
    keystore = write_file_keystore(
        tmp_path / "ks", rsa_key, "pw", provider_id="FLEDemo", name="DemoPublicKey"
    )
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        process = fle(
            "reveal", "--routes", str(routes), "--listen", "127.0.0.1:0",
            "--tls-cert", str(pki.cert), "--tls-key", str(pki.key),
            "--audit-file", str(tmp_path / "audit.jsonl"),
            env={"FLE_KEYSTORE": str(keystore), "TEST_KEY_PASSPHRASE": "pw"},
        )  # fmt: skip
        try:
            await process.wait_for_async("reveal listening on https://127.0.0.1:")
            url = process.url("reveal") + "/processor/charges"
            body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, b'4111111111111111'), safe='')}"
            async with aiohttp.ClientSession() as session:
                headers = {"Content-Type": "application/x-www-form-urlencoded", **bearer()}
                context = ssl.create_default_context(cafile=str(pki.ca))
                async with session.post(url, data=body, headers=headers, ssl=context) as r:
                    assert r.status == 201
            assert proc.seen[0].body == b"card_number=4111111111111111"
        finally:
            output = process.stop(signal.SIGINT)
    assert process.returncode == 0, output
    assert "4111111111111111" not in output
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [x["phase"] for x in lines] == ["sending", "answered"]


def test_fle_reveal_refuses_at_start_a_route_whose_key_the_keystore_does_not_hold(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")  # FLEDemo/DemoPublicKey
    routes = write_routes(tmp_path, "http://127.0.0.1:1", ca_file=None,
                          keys=("FLEDemo/DemoPublicKey", "FLEDemo/RetiredKey", "Other/Key"))  # fmt: skip
    process = fle("reveal", "--routes", str(routes), "--listen", "127.0.0.1:0",
                  env={"FLE_KEYSTORE": str(keystore), "TEST_KEY_PASSPHRASE": "pw"})  # fmt: skip
    output = process.finish()
    assert process.returncode == 2 and "Traceback" not in output
    assert output.strip() == (
        f"fle reveal: {routes}: the keystore {keystore} holds no entry for route 'processor': "
        "FLEDemo/RetiredKey, Other/Key (add the key with fle keys create, or take it out of the route's keys)"
    )
