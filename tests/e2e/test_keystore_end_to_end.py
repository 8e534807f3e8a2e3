"""Done-when for the keystore: an HSM key (SoftHSM) and a Parameter Store key (moto) each decrypt what
the proxy encrypted, through the decryptor's Lambda handler; and what happens when the backend is down."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from decryptor import handler
from edge_proxy.encrypting import esdk
from keystore import Keystore
from keystore.tooling import create_pkcs11_key, store_ssm_key
from tests.fixtures_moto import Aws
from tests.fixtures_softhsm import PIN, SoftHsm

PARAM = "/cloudfront/field-encryption-sample/private-key"


@pytest.fixture
def keystore_file(
    tmp_path: Path, softhsm: SoftHsm, pkcs11_pin: str, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    label = f"E2E-{tmp_path.name}"
    create_pkcs11_key(softhsm.module, "fle-gen", PIN, label, bits=2048)  # generated inside the token
    kms_key = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    store_ssm_key(PARAM, kms_key, None, bits=2048)
    path = tmp_path / "keystore.toml"
    path.write_text(
        softhsm.keystore_entry("fle-gen", label, key_name="HsmKey")
        + f'[[key]]\nprovider_id = "FLEDemo"\nkey_name = "SsmKey"\nbackend = "ssm"\nparameter = "{PARAM}"\n'
    )
    monkeypatch.setenv("FLE_KEYSTORE", str(path))
    handler.reset_cache()
    yield path
    handler.reset_cache()


def proxy_encrypt(keystore: Keystore, key_name: str, plaintext: bytes) -> str:
    """What the edge proxy writes, made with the public key exported from the backend itself."""
    public = keystore.backend("FLEDemo", key_name).public_key()
    return base64.b64encode(
        esdk.encrypt(plaintext, esdk.FieldKey(public, b"FLEDemo", key_name.encode()))
    ).decode()


def test_hsm_and_parameter_store_keys_decrypt_proxy_ciphertext(keystore_file: Path) -> None:
    tooling = Keystore.from_file(keystore_file)
    try:
        from_hsm = proxy_encrypt(tooling, "HsmKey", b"404-555-0150")
        from_ssm = proxy_encrypt(tooling, "SsmKey", "404-555-0199 ☎".encode())
    finally:
        tooling.close()
    result = handler.lambda_handler({"ciphertexts": [from_hsm, from_ssm, from_hsm]}, None)
    assert result == {
        "results": [
            {"plaintext": "404-555-0150"},
            {"plaintext": "404-555-0199 ☎"},
            {"plaintext": "404-555-0150"},
        ]
    }
    backend = handler._service().keystore.backend("FLEDemo", "HsmKey")
    assert backend.health()[0].unwraps == 2  # type: ignore[attr-defined]  # the HSM did the unwrapping


def test_hsm_down_is_reported_per_value_and_recovers(
    keystore_file: Path, softhsm: SoftHsm, capfd: pytest.CaptureFixture[str]
) -> None:
    tooling = Keystore.from_file(keystore_file)
    try:
        from_hsm = proxy_encrypt(tooling, "HsmKey", b"404-555-0150")
        from_ssm = proxy_encrypt(tooling, "SsmKey", b"404-555-0199")
    finally:
        tooling.close()
    assert handler.lambda_handler({"ciphertexts": [from_hsm]}, None)["results"] == [
        {"plaintext": "404-555-0150"}
    ]
    token_dir = softhsm.token_dirs["fle-gen"]
    away = token_dir.parent.parent / "fle-gen.away"
    shutil.move(token_dir, away)
    try:
        results = handler.lambda_handler({"ciphertexts": [from_hsm, from_ssm]}, None)["results"]
    finally:
        shutil.move(away, token_dir)
    assert results[0] == {"error": "key_unavailable"}
    audit = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"time"')]
    (refused,) = [line for line in audit if line["outcome"] == "refused"]  # the words: in the audit (stdout)
    assert refused["reason"] == "key_unavailable" and refused["detail"].startswith("key backend unavailable")
    assert results[1] == {"plaintext": "404-555-0199"}  # other keys keep working
    assert handler.lambda_handler({"ciphertexts": [from_hsm]}, None)["results"] == [
        {"plaintext": "404-555-0150"}
    ]
