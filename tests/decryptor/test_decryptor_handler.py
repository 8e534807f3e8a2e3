"""Direct-invoke events against each keystore backend: ciphertexts, ids, recent; rotation; errors as data."""

from __future__ import annotations

import asyncio
import base64

import pytest
from aws_encryption_sdk.identifiers import Algorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from store import SqliteStore, Submission
from tests.fixtures_decryptor import (
    BEFORE_ANY_BACKEND,
    DecryptEnv,
    KeySpec,
    logged_refusal,
    proxy_encrypt,
    refused_details,
    sdk_encrypt,
)

CORRUPT = "message could not be decrypted (corrupt, tampered or wrong key)"


def tamper(value: str, at: int = -5) -> str:
    message = bytearray(base64.b64decode(value))
    message[at] ^= 0x40
    return base64.b64encode(bytes(message)).decode()


def test_ciphertexts_event_in_order(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    good = proxy_encrypt(rsa_key, "404-555-0150 ☎".encode())
    values = [
        good,
        sdk_encrypt([KeySpec(rsa_key)], b"from the SDK"),
        sdk_encrypt([KeySpec(rsa_key)], b"committed", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY),
        sdk_encrypt([KeySpec(rsa_key)], b"signed", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384),
        proxy_encrypt(other_rsa_key, b"written before the rotation", name="OldKey"),
        proxy_encrypt(rsa_key, b"\xff\x00"),
        tamper(good),
        tamper(good, at=60),  # inside the wrapped data key
        "%%%",
        7,
        proxy_encrypt(rsa_key, b"x", name="RetiredKey"),
        proxy_encrypt(rsa_key, b"x", provider="OtherProvider"),
        proxy_encrypt(other_rsa_key, b"wrong key under a known name"),
        good[:60],
        good[:300],
    ]
    result = handler.lambda_handler({"ciphertexts": values}, None)
    assert result["results"] == [
        {"plaintext": "404-555-0150 ☎"},
        {"plaintext": "from the SDK"},
        {"plaintext": "committed"},
        {"plaintext": "signed"},
        {"plaintext": "written before the rotation"},
        {"plaintext_base64": base64.b64encode(b"\xff\x00").decode()},
        {"error": "decrypt_failed"},
        {"error": "decrypt_failed"},
        {"error": "not_a_message"},
        {"error": "not_a_message"},
        {"error": "key_unknown"},
        {"error": "key_unknown"},
        {"error": "decrypt_failed"},
        {"error": "decrypt_failed"},
        {"error": "decrypt_failed"},
    ]
    # the words the answer used to carry are in each value's audit line, and only there
    details = refused_details(decrypt_env)
    assert [details[i][0] for i in range(6, 15)] == [r["error"] for r in result["results"][6:]]
    for index, message in [
        (6, CORRUPT),
        (7, CORRUPT),
        (8, "not standard base64"),
        (9, "expected a base64 string"),
        (10, "no private key for FLEDemo/RetiredKey in this keystore"),
        (11, "no private key for OtherProvider/DemoPublicKey in this keystore"),
        (12, CORRUPT),
        (13, CORRUPT),
        (14, CORRUPT),
    ]:
        assert details[index][1].startswith(message), (index, details[index])
    assert set(details) == set(range(6, 15))


async def store_items(env: DecryptEnv, *items: Submission) -> None:
    store = SqliteStore(env.store_path)
    for item in items:
        await store.put(item)
    await store.close()


async def test_ids_and_recent_events(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    item = Submission(
        fields={
            "name": "Jane Doe",
            "phone": proxy_encrypt(rsa_key, b"404-555-0150"),
            "card": proxy_encrypt(other_rsa_key, b"4111 1111", name="OldKey"),
        }
    )
    broken = Submission(fields={"phone": proxy_encrypt(rsa_key, b"1", provider="Nope")})
    await store_items(decrypt_env, item, broken)
    result = await asyncio.to_thread(handler.lambda_handler, {"ids": [item.id, "missing", broken.id]}, None)
    assert result["items"] == [
        {
            "id": item.id,
            "received_at": item.received_at,
            "fields": {"name": "Jane Doe", "phone": "404-555-0150", "card": "4111 1111"},
            "errors": {},
        },
        {"id": "missing", "fields": {}, "errors": {}, "error": "not_found"},
        {
            "id": broken.id,
            "received_at": broken.received_at,
            "fields": {"phone": broken.fields["phone"]},
            "errors": {"phone": "key_unknown"},
        },
    ]
    assert refused_details(decrypt_env) == {
        (broken.id, "phone"): ("key_unknown", "no private key for Nope/DemoPublicKey in this keystore")
    }
    recent = await asyncio.to_thread(handler.lambda_handler, {"recent": 2}, None)
    assert [i["id"] for i in recent["items"]] == [broken.id, item.id]
    assert recent["items"][1]["fields"]["phone"] == "404-555-0150"


@BEFORE_ANY_BACKEND
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "exactly one of"),
        ([], "exactly one of"),
        ({"ciphertexts": "AYAB"}, "must be a list"),
        ({"ciphertexts": ["x"] * 1001}, "at most 1000"),
        ({"ids": [1]}, "non-empty strings"),
        ({"ids": [""]}, "non-empty strings"),
        ({"recent": 0}, "integer from 1"),
        ({"recent": True}, "integer from 1"),
        ({"recent": 1001}, "integer from 1"),
        ({"ciphertexts": [], "ids": []}, "exactly one of"),
    ],
)
def test_bad_events_are_errors_not_exceptions(
    decrypt_env: DecryptEnv, caplog: pytest.LogCaptureFixture, event: object, message: str
) -> None:
    assert handler.lambda_handler(event, None) == {"error": "bad_event"}
    assert message in logged_refusal(caplog)


@BEFORE_ANY_BACKEND
def test_missing_keystore_and_store(
    decrypt_env: DecryptEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("FLE_STORE")
    assert handler.lambda_handler({"recent": 1}, None) == {"error": "store_unavailable"}
    assert "FLE_STORE" in logged_refusal(caplog)
    monkeypatch.setenv("FLE_STORE", "mysql://x")
    assert handler.lambda_handler({"recent": 1}, None) == {"error": "config_error"}
    assert "store: 'mysql://x'" in logged_refusal(caplog)
    monkeypatch.delenv("FLE_KEYSTORE")
    assert handler.lambda_handler({"ciphertexts": []}, None) == {"error": "config_error"}
    assert "FLE_KEYSTORE" in logged_refusal(caplog)


@BEFORE_ANY_BACKEND
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FLE_ACCEPTED_SUITES", "0x9999", "FLE_ACCEPTED_SUITES: unknown algorithm suite '0x9999'"),
        ("FLE_ACCEPTED_SUITES", "AES", "not a hex id"),
        ("FLE_MAX_DATA_KEYS", "0", "FLE_MAX_DATA_KEYS must be from 1 to 64"),
        ("FLE_MAX_MESSAGE_BYTES", "big", "FLE_MAX_MESSAGE_BYTES must be an integer"),
        ("FLE_DECRYPT_WORKERS", "1000", "FLE_DECRYPT_WORKERS must be from 1 to 256"),
    ],
)
def test_bad_settings_are_named(
    decrypt_env: DecryptEnv,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
    message: str,
) -> None:
    """Named in the log, for the operator; the caller gets the code."""
    monkeypatch.setenv(variable, value)
    assert handler.lambda_handler({"ciphertexts": []}, None) == {"error": "config_error"}
    detail = logged_refusal(caplog)
    assert "config: " in detail and message in detail


@BEFORE_ANY_BACKEND
def test_service_is_reused_until_the_settings_change(
    decrypt_env: DecryptEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler.lambda_handler({"ciphertexts": []}, None)
    handler.lambda_handler({"ciphertexts": []}, None)
    assert len(handler.cached_services()) == 1
    monkeypatch.setenv("FLE_DECRYPT_WORKERS", "2")
    handler.lambda_handler({"ciphertexts": []}, None)
    assert sorted(s.config.workers for s in handler.cached_services()) == [2, 8]


def test_the_backend_under_test_does_the_unwrap(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, request: pytest.FixtureRequest
) -> None:
    """The parametrized keystore really is the backend its name says, and that backend unwrapped the key."""
    backend_name = request.node.callspec.params["make_keystore"].removesuffix("_keystore_factory")
    result = handler.lambda_handler({"ciphertexts": [proxy_encrypt(rsa_key, b"404-555-0150")]}, None)
    assert result["results"] == [{"plaintext": "404-555-0150"}]
    (service,) = handler.cached_services()
    assert {entry.backend for entry in service.keystore.entries} == {backend_name}
    backend = service.keystore.backend("FLEDemo", "DemoPublicKey")
    if backend_name == "pkcs11":
        (token,) = backend.health()  # type: ignore[attr-defined]
        assert (token.name, token.healthy) == ("token 'fle-dec'", True)
        assert token.unwraps == 1  # the data key of the message (the probe at open is not counted)
    elif backend_name == "ssm":
        assert backend.fetches == 1  # type: ignore[attr-defined]
