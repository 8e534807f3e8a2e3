"""`fle origin --store dynamodb://TABLE` behind `fle proxy`, as processes: ciphertext lands in dynalite and
`fle decrypt` (the handler's {"ids": [...]} event underneath) turns it back into plaintext."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_process import ROOT, FleProcess, fle, free_port
from tests.helpers import make_config_dir, write_file_keystore


async def test_fle_origin_on_dynamodb_behind_fle_proxy(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    dynamodb_env: str,
    fle_process: Callable[..., FleProcess],
) -> None:
    store_url = f"dynamodb://{dynamodb_env}"
    origin_port, proxy_port = free_port(), free_port()
    origin = fle_process("origin", "--listen", f"127.0.0.1:{origin_port}", "--store", store_url)
    proxy = fle_process(
        "proxy",
        "--config",
        str(make_config_dir(tmp_path / "config", rsa_key)),
        "--origin",
        f"http://127.0.0.1:{origin_port}",
        "--listen",
        f"127.0.0.1:{proxy_port}",
        "--admin",
        "off",  # never the default 9180: another process may hold it
    )
    origin.wait_for("origin listening")
    proxy.wait_for("proxy listening")
    form = {"name": "Jane Doe", "email": "jane@example.org", "phone": "404-555-0150"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{proxy_port}/submit", data=form) as response:
            assert response.status == 200
            item_id = response.headers["X-Submission-Id"]
    proxy.stop(signal.SIGINT, timeout=15)
    origin.stop(signal.SIGINT, timeout=15)
    raw = boto3.client("dynamodb").get_item(TableName=dynamodb_env, Key={"id": {"S": item_id}})["Item"]
    assert raw["fields"]["M"]["phone"]["S"].startswith("AYABe")
    assert "404-555-0150" not in json.dumps(raw)

    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEST_KEY_PASSPHRASE": "pw"}
    env |= {"FLE_KEYSTORE": str(keystore), "FLE_STORE": store_url}
    decrypt = subprocess.run(
        [sys.executable, "-m", "fle", "decrypt", "--json", "--id", item_id],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert decrypt.returncode == 0, decrypt.stderr
    assert json.loads(decrypt.stdout.splitlines()[0])["fields"] == form


@pytest.mark.parametrize(
    ("store", "message"),
    [("dynamodb://x", "3-255 characters"), ("dynamodb://table?create=no", "create must be true or false")],
)
def test_fle_origin_explains_a_bad_dynamodb_url(store: str, message: str) -> None:
    process = fle("origin", "--store", store)
    output = process.finish(timeout=30)
    assert process.returncode == 2 and message in output and "Traceback" not in output


async def test_fle_origin_makes_the_lookup_indexes_it_is_told_of_and_refuses_a_table_without_one(
    dynamodb_env: str, fle_process: Callable[..., FleProcess]
) -> None:
    store_url = f"dynamodb://{dynamodb_env}"
    port = free_port()
    origin = fle_process(
        "origin", "--listen", f"127.0.0.1:{port}", "--store", store_url, "--indexed-field", "phone"
    )
    origin.wait_for("origin listening")
    body = {"name": "Jane", "phone": "AYAB-ciphertext-as-the-edge-wrote-it", "phone__bidx": "3fa1"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/api/submissions", json=body) as response:
            assert response.status == 201
            item_id = (await response.json())["id"]
        search = {"phone": "AYAB-the-term", "phone__bidx": "3fa1"}
        headers = {"Accept": "application/json"}
        async with session.post(f"http://127.0.0.1:{port}/find", data=search, headers=headers) as response:
            assert await response.json() == {"ids": [item_id], "field": "phone", "term": "AYAB-the-term"}
    origin.stop(signal.SIGINT, timeout=15)
    table = boto3.client("dynamodb").describe_table(TableName=dynamodb_env)["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_received_at", "phone__bidx"}

    refused = fle("origin", "--listen", "127.0.0.1:0", "--store", store_url, "--indexed-field", "email")
    output = refused.finish(timeout=30)
    assert refused.returncode == 2 and "no lookup index for ['email']" in output
    assert "aws dynamodb update-table" in output and "Traceback" not in output
    bad = fle("origin", "--store", store_url, "--indexed-field", "customer[phone]")
    output = bad.finish(timeout=30)
    assert bad.returncode == 2 and "cannot have a DynamoDB index" in output
