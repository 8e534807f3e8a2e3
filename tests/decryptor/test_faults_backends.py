"""Key-store and store faults, each through the component a user meets: the decryptor handler for the HSM
and Parameter Store, the origin (behind the edge proxy) for DynamoDB.

The HSM fault is real: the SoftHSM token's directory is moved away and back. Throttling is injected by
AwsFaults (tests/fixtures_faults.py), a loopback HTTP peer in front of the real moto / dynalite server,
because neither server ever throttles; boto3 is not touched and applies its own retry policy.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from edge_proxy.encrypting import esdk
from keystore.tooling import store_ssm_key
from origin import build_app as build_origin
from store import DynamoSettings, DynamoStore
from tests.fixtures_dynalite import Dynalite
from tests.fixtures_faults import aws_faults
from tests.fixtures_moto import Aws
from tests.fixtures_proxy import (
    FORM,
    Canary,
    cf_config,
    cf_profile,
    cf_public_key,
    proxy_stack,
    write_config_dir,
)
from tests.fixtures_softhsm import SoftHsm, import_key
from tests.helpers import serving
from tests.keystore.test_keystore_pkcs11_cluster import token_removed
from tests.keystore.test_keystore_ssm import PARAM, kms_key


def encrypt(public: rsa.RSAPublicKey, plaintext: bytes) -> str:
    field_key = esdk.FieldKey(public, b"FLEDemo", b"DemoPublicKey")
    return base64.b64encode(esdk.encrypt(plaintext, field_key)).decode()


@pytest.fixture
def decryptor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """FLE_KEYSTORE at tmp_path/keystore.toml (the test writes it), a SQLite store and an audit file."""
    keystore = tmp_path / "keystore.toml"
    monkeypatch.setenv("FLE_KEYSTORE", str(keystore))
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("FLE_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    handler.reset_cache()
    yield keystore
    handler.reset_cache()


def audit_details(decryptor_env: Path) -> list[tuple[int, str, str]]:
    """(index, reason code, detail) of the refused values in the audit, in the order written."""
    lines = [json.loads(line) for line in (decryptor_env.parent / "audit.jsonl").read_text().splitlines()]
    return [(a["index"], a["reason"], a["detail"]) for a in lines if a["outcome"] == "refused"]


async def decrypt(*values: str) -> list[dict[str, str]]:
    """The handler as a Lambda runtime calls it: synchronously (here in a thread, so that a fault proxy on
    this test's event loop can answer boto3)."""
    answer = await asyncio.to_thread(handler.lambda_handler, {"ciphertexts": list(values)}, None)
    return answer["results"]  # type: ignore[no-any-return]


# --- the HSM token goes away and comes back ---------------------------------------------------------------


async def test_hsm_token_gone_mid_run_and_back(
    softhsm: SoftHsm, pkcs11_pin: str, decryptor_env: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    import_key(softhsm.module, "fle-solo", key, "FaultKey")
    decryptor_env.write_text(softhsm.keystore_entry("fle-solo", "FaultKey"))
    value = encrypt(key.public_key(), b"404-555-0150")
    assert await decrypt(value, value) == [{"plaintext": "404-555-0150"}] * 2
    with token_removed(softhsm.token_dirs["fle-solo"]):
        results = await decrypt(value, "%%%", value)
        gone, bad = {"error": "key_unavailable"}, {"error": "not_a_message"}
        assert results == [gone, bad, gone]
        details = sorted(audit_details(decryptor_env))  # other values are answered as usual
        assert [(i, code) for i, code, _ in details] == [
            (0, "key_unavailable"), (1, "not_a_message"), (2, "key_unavailable")
        ]  # fmt: skip
        assert details[1][2] == "not standard base64"
        for _, _, detail in (details[0], details[2]):  # the token's label: in the audit, not the answer
            assert detail.startswith("key backend unavailable:") and "fle-solo" in detail
            assert "404-555-0150" not in detail
    assert await decrypt(value) == [{"plaintext": "404-555-0150"}]  # recovered, same handler, same pool


# --- Parameter Store throttles or fails ---------------------------------------------------------------------


@pytest.fixture
async def ssm_faults(aws: Aws, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    async with aws_faults(aws.url) as faults:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", faults.url)
        yield faults


def ssm_keystore(path: Path) -> None:
    path.write_text(
        '[[key]]\nprovider_id = "FLEDemo"\nkey_name = "DemoPublicKey"\nbackend = "ssm"\n'
        f'parameter = "{PARAM}"\n'
    )


async def test_ssm_throttling_is_retried_with_backoff(aws: Aws, ssm_faults, decryptor_env: Path) -> None:  # type: ignore[no-untyped-def]
    public = await asyncio.to_thread(store_ssm_key, PARAM, kms_key(aws), None, bits=2048)
    ssm_keystore(decryptor_env)
    ssm_faults.inject("AmazonSSM.GetParameter", "ThrottlingException", times=2)
    ssm_faults.inject("AmazonSSM.GetParameter", "InternalServerError", times=1, status=500)
    assert await decrypt(encrypt(public, b"jane@example.org")) == [{"plaintext": "jane@example.org"}]
    assert ssm_faults.calls["AmazonSSM.GetParameter"] == 4  # throttled twice, a 500, then answered


async def test_ssm_throttling_that_persists_is_a_clear_error_then_recovers(  # type: ignore[no-untyped-def]
    aws: Aws, ssm_faults, decryptor_env: Path
) -> None:
    public = await asyncio.to_thread(store_ssm_key, PARAM, kms_key(aws), None, bits=2048)
    ssm_keystore(decryptor_env)
    value = encrypt(public, b"jane@example.org")
    ssm_faults.inject("AmazonSSM.GetParameter", "ThrottlingException", times=6)
    (result,) = await decrypt(value)
    assert result == {"error": "key_unavailable"}
    ((_, code, detail),) = audit_details(decryptor_env)
    assert code == "key_unavailable" and detail.split("; ")[0] == (
        f"key backend unavailable: Parameter Store is throttling requests for '{PARAM}', even after retries"
    )
    # keystore.ssm_backend.RETRIES says max_attempts=5: botocore counts those as retries, so 6 calls
    assert ssm_faults.calls["AmazonSSM.GetParameter"] == 6
    assert await decrypt(value) == [{"plaintext": "jane@example.org"}]  # the next call opens it afresh


async def test_ssm_access_denied_is_not_retried_and_says_what_to_allow(  # type: ignore[no-untyped-def]
    aws: Aws, ssm_faults, decryptor_env: Path
) -> None:
    public = await asyncio.to_thread(store_ssm_key, PARAM, kms_key(aws), None, bits=2048)
    ssm_keystore(decryptor_env)
    ssm_faults.inject("AmazonSSM.GetParameter", "AccessDeniedException", times=1)
    (result,) = await decrypt(encrypt(public, b"x"))
    assert result == {"error": "key_unavailable"}
    ((_, code, detail),) = audit_details(decryptor_env)
    assert code == "key_unavailable" and detail.split("; ")[0] == (
        f"key backend unavailable: access to parameter '{PARAM}' was denied (AccessDeniedException): "
        "allow ssm:GetParameter and kms:Decrypt"
    )
    assert ssm_faults.calls["AmazonSSM.GetParameter"] == 1  # not worth retrying


# --- DynamoDB throttles, loses an answer, or goes away ------------------------------------------------------

PUT = "DynamoDB_20120810.PutItem"


@pytest.fixture
def edge_config(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "FLEDemo", ["phone"])]),
        cf_config("C1", [(FORM, "P1")]),
    )


def table_items(dynalite: Dynalite, table: str) -> list[dict[str, Any]]:
    """The table's items, read straight from dynalite (not through the fault proxy)."""
    return boto3.client("dynamodb", endpoint_url=dynalite.endpoint).scan(TableName=table)["Items"]  # type: ignore[no-any-return]


async def submit(session: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, str, str]:
    async with session.post(f"{url}/submit", data=form) as response:
        return response.status, response.headers.get("Retry-After", ""), await response.text()


async def test_dynamodb_throttling_through_the_edge(
    canary: Canary,
    edge_config: Path,
    dynamodb_env: str,
    dynalite_server: Dynalite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary.protect("404-555-0150")
    async with aws_faults(dynalite_server.endpoint) as faults:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", faults.url)
        store = DynamoStore(DynamoSettings(table=dynamodb_env, max_attempts=3))
        async with serving(build_origin(store)) as origin:
            edge_stack = proxy_stack(canary, edge_config, origin=origin)
            async with edge_stack as edge, aiohttp.ClientSession() as session:
                form = {"name": "Jane", "phone": "404-555-0150", "submission_id": "a" * 32}
                faults.inject(PUT, "ProvisionedThroughputExceededException", times=2)
                status, _, _ = await submit(session, edge.url, form)
                assert status == 200 and faults.calls[PUT] == 3  # throttled twice, retried, stored

                form = {**form, "submission_id": "b" * 32}
                faults.inject(PUT, "ProvisionedThroughputExceededException", times=6)  # two posts' 3 attempts
                status, retry_after, text = await submit(session, edge.url, form)
                assert (status, retry_after) == (503, "5") and "could not be stored; try again" in text
                assert "404-555-0150" not in text
                status, _, page = await submit(session, edge.url, form)  # the user tries again: once more
                assert status == 503

                status, _, page = await submit(session, edge.url, form)  # throttling over: stored
                assert status == 200 and "b" * 32 in page
                status, _, page = await submit(session, edge.url, form)  # a repeat is not a second item
                assert status == 200
    items = table_items(dynalite_server, dynamodb_env)
    assert sorted(i["id"]["S"] for i in items) == ["a" * 32, "b" * 32]
    assert all(i["fields"]["M"]["phone"]["S"].startswith("AYAB") for i in items)


async def test_a_lost_dynamodb_answer_is_retried_and_stored_once(
    dynamodb_env: str, dynalite_server: Dynalite, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aws_faults(dynalite_server.endpoint) as faults:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", faults.url)
        store = DynamoStore(DynamoSettings(table=dynamodb_env, max_attempts=3, read_timeout=2))
        async with serving(build_origin(store)) as origin, aiohttp.ClientSession() as session:
            faults.inject(PUT, "lose-answer", times=1)  # the write lands; its answer is cut off
            key = {"Idempotency-Key": "c" * 32}
            async with session.post(f"{origin}/api/submissions", json={"n": "1"}, headers=key) as response:
                assert response.status == 201  # botocore retried; the retry found its own item
            assert faults.calls[PUT] == 2

            # With no retries left the client is told 503, although the write landed: its retry is a 200
            # with the item stored first, never a second item.
            monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
            store1 = DynamoStore(DynamoSettings(table=dynamodb_env))
            async with serving(build_origin(store1)) as origin1:
                faults.inject(PUT, "lose-answer", times=1)
                headers = {"Idempotency-Key": "d" * 32}
                async with session.post(f"{origin1}/api/submissions", json={"n": "2"}, headers=headers) as r:
                    assert r.status == 503 and r.headers["Retry-After"] == "5"
                async with session.post(f"{origin1}/api/submissions", json={"n": "2"}, headers=headers) as r:
                    assert r.status == 200 and (await r.json())["fields"] == {"n": "2"}
    assert sorted(i["id"]["S"] for i in table_items(dynalite_server, dynamodb_env)) == ["c" * 32, "d" * 32]
