"""The Lambda-style handler with the file backend: interop with stock aws-encryption-sdk, errors as data."""

from __future__ import annotations

import base64
from pathlib import Path

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from edge_proxy import esdk
from store import SqliteStore, Submission
from tests.helpers import raw_master_key, write_file_keystore


@pytest.fixture
def keystore_env(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    path = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    monkeypatch.setenv("FLE_KEYSTORE", str(path))
    handler._decryptors.clear()
    return path


def sdk_encrypt(key: rsa.RSAPrivateKey, plaintext: bytes, algorithm: Algorithm) -> str:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    if algorithm.is_committing():
        client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
    message, _ = client.encrypt(source=plaintext, key_provider=raw_master_key(key), algorithm=algorithm)
    return base64.b64encode(message).decode()


def proxy_encrypt(
    key: rsa.RSAPrivateKey, plaintext: bytes, provider: bytes = b"FLEDemo", name: bytes = b"DemoPublicKey"
) -> str:
    return base64.b64encode(esdk.encrypt(plaintext, esdk.FieldKey(key.public_key(), provider, name))).decode()


def test_ciphertexts_event_in_order(keystore_env: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    good_proxy = proxy_encrypt(rsa_key, "404-555-0150 ☎".encode())
    good_sdk = sdk_encrypt(rsa_key, b"from the SDK", Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256)
    committing = sdk_encrypt(rsa_key, b"committed", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    binary = proxy_encrypt(rsa_key, b"\xff\x00")
    tampered = bytearray(base64.b64decode(good_proxy))
    tampered[-5] ^= 0x40
    result = handler.lambda_handler(
        {
            "ciphertexts": [
                good_proxy,
                good_sdk,
                committing,
                binary,
                base64.b64encode(bytes(tampered)).decode(),
                "%%%",
                7,
                proxy_encrypt(rsa_key, b"x", name=b"OldKey"),
                good_proxy[:60],
            ]
        },
        None,
    )
    assert result["results"] == [
        {"plaintext": "404-555-0150 ☎"},
        {"plaintext": "from the SDK"},
        {"plaintext": "committed"},
        {"plaintext_base64": base64.b64encode(b"\xff\x00").decode()},
        {"error": "message could not be decrypted (corrupt, tampered or wrong key)"},
        {"error": "not standard base64"},
        {"error": "expected a base64 string"},
        {"error": "no keystore entry for provider 'FLEDemo' key 'OldKey'"},
        {"error": "message could not be decrypted (corrupt, tampered or wrong key)"},
    ]


async def test_ids_and_recent_events(
    keystore_env: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    item = Submission(fields={"name": "Jane Doe", "phone": proxy_encrypt(rsa_key, b"404-555-0150")})
    broken = Submission(fields={"phone": proxy_encrypt(rsa_key, b"1", provider=b"Nope")})
    await store.put(item)
    await store.put(broken)
    await store.close()
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    import asyncio

    result = await asyncio.to_thread(handler.lambda_handler, {"ids": [item.id, "missing", broken.id]}, None)
    assert result["items"][0] == {
        "id": item.id,
        "received_at": item.received_at,
        "fields": {"name": "Jane Doe", "phone": "404-555-0150"},
        "errors": {},
    }
    assert result["items"][1] == {
        "id": "missing",
        "fields": {},
        "errors": {},
        "error": "no item with this id",
    }
    assert result["items"][2]["errors"] == {
        "phone": "no keystore entry for provider 'Nope' key 'DemoPublicKey'"
    }
    assert result["items"][2]["fields"]["phone"] == broken.fields["phone"]
    recent = await asyncio.to_thread(handler.lambda_handler, {"recent": 1}, None)
    assert [i["id"] for i in recent["items"]] == [broken.id]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "exactly one of"),
        ([], "exactly one of"),
        ({"ciphertexts": "AYAB"}, "must be a list"),
        ({"ids": [1]}, "non-empty strings"),
        ({"recent": 0}, "integer from 1"),
        ({"ciphertexts": [], "ids": []}, "exactly one of"),
    ],
)
def test_bad_events_are_errors_not_exceptions(keystore_env: Path, event: object, message: str) -> None:
    assert message in handler.lambda_handler(event, None)["error"]


def test_missing_keystore_and_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLE_KEYSTORE", raising=False)
    handler._decryptors.clear()
    assert "FLE_KEYSTORE" in handler.lambda_handler({"ciphertexts": []}, None)["error"]


def test_no_sdk_noise_on_stderr(keystore_env: Path, capfd: pytest.CaptureFixture[str]) -> None:
    handler.lambda_handler({"ciphertexts": ["AYABeA" + "A" * 100]}, None)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
