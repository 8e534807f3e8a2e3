"""The policy: suites, data keys and size are refused from the header, before any key is unwrapped."""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

import pytest
from aws_encryption_sdk.identifiers import Algorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from decryptor import DecryptError, Policy, PolicyRefused, handler
from decryptor.policy import parse_suites, read_header
from esdk_format import KeyRef
from tests.fixtures_decryptor import (
    BEFORE_ANY_BACKEND,
    DecryptEnv,
    KeySpec,
    proxy_encrypt,
    sdk_encrypt,
    with_details,
)

SIGNED_V1 = Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384  # 0x0378, not accepted by default


def decrypt(env: DecryptEnv, *values: str) -> list[dict[str, str]]:
    """Each value's answer; an error's code with the detail of its audit line (the caller sees the code)."""
    return with_details(env, handler.lambda_handler({"ciphertexts": list(values)}, None)["results"])


def refused(detail: str) -> dict[str, str]:
    return {"error": "policy_refused", "detail": detail}


def test_header_reader_on_v1_and_v2(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> None:
    v1 = base64.b64decode(proxy_encrypt(rsa_key, b"x"))
    header = read_header(v1, max_data_keys=1)
    assert (header.version, header.suite) == (1, 0x0178)
    assert tuple(k.ref for k in header.data_keys) == (KeyRef("FLEDemo", "DemoPublicKey"),)
    two = sdk_encrypt(
        [KeySpec(rsa_key), KeySpec(other_rsa_key, "Backup", "K2")],
        b"x",
        Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    )
    header = read_header(base64.b64decode(two), max_data_keys=2)
    assert (header.version, header.suite) == (2, 0x0478)
    assert {k.ref for k in header.data_keys} == {KeyRef("FLEDemo", "DemoPublicKey"), KeyRef("Backup", "K2")}


@given(st.binary(max_size=400))
def test_header_reader_refuses_garbage_with_a_decrypt_error(data: bytes) -> None:
    with contextlib.suppress(DecryptError):
        read_header(data, max_data_keys=3)


def test_header_reader_stops_at_too_many_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    three = sdk_encrypt([KeySpec(rsa_key, key_name=f"K{i}") for i in range(3)], b"x")
    with pytest.raises(PolicyRefused, match="has 3 encrypted data keys; at most 2 accepted"):
        read_header(base64.b64decode(three)[:80], max_data_keys=2)  # the keys themselves are not read


def test_suites_are_parsed_as_hex_ids() -> None:
    assert parse_suites("0x0178, 0478") == {0x0178, 0x0478}
    assert Policy().suites == {0x0178, 0x0478, 0x0578}
    with pytest.raises(ValueError, match="at least one"):
        parse_suites(" , ")


def test_default_policy_refusals(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    two_keys = sdk_encrypt([KeySpec(rsa_key), KeySpec(other_rsa_key, key_name="OldKey")], b"two keys")
    big = proxy_encrypt(rsa_key, b"x" * 70_000)
    assert decrypt(decrypt_env, sdk_encrypt([KeySpec(rsa_key)], b"signed v1", SIGNED_V1), two_keys, big) == [
        refused("algorithm suite 0x0378 is not accepted (accepted: 0x0178, 0x0478, 0x0578)"),
        refused("message has 2 encrypted data keys; at most 1 accepted"),
        refused(f"message is {len(base64.b64decode(big))} bytes; at most 65536 accepted"),
    ]


def test_configured_policy(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLE_ACCEPTED_SUITES", "0x0178,0x0378")
    monkeypatch.setenv("FLE_MAX_DATA_KEYS", "2")
    monkeypatch.setenv("FLE_MAX_MESSAGE_BYTES", "2000")
    two_keys = sdk_encrypt([KeySpec(other_rsa_key, "Gone", "Gone"), KeySpec(rsa_key)], b"two keys")
    wrong_known = sdk_encrypt([KeySpec(other_rsa_key, "Gone", "Gone"), KeySpec(other_rsa_key)], b"no")
    results = decrypt(
        decrypt_env,
        sdk_encrypt([KeySpec(rsa_key)], b"signed v1", SIGNED_V1),
        two_keys,
        wrong_known,
        sdk_encrypt([KeySpec(rsa_key)], b"c", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY),
        proxy_encrypt(rsa_key, b"x" * 2000),
    )
    assert results[2]["error"] == "decrypt_failed"
    assert results[2]["detail"].startswith(
        "message could not be decrypted (corrupt, tampered or wrong key); "
    )
    assert results[:2] + results[3:] == [
        {"plaintext": "signed v1"},
        {"plaintext": "two keys"},
        refused("algorithm suite 0x0478 is not accepted (accepted: 0x0178, 0x0378)"),
        refused(
            f"message is {len(base64.b64decode(proxy_encrypt(rsa_key, b'x' * 2000)))} bytes; "
            "at most 2000 accepted"
        ),
    ]


@BEFORE_ANY_BACKEND
def test_refused_before_the_backend_is_opened(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A keystore whose only entry cannot open: refusals by policy never reach it, a good suite does."""
    keystore = tmp_path / "broken.toml"
    keystore.write_text(
        '[[key]]\nprovider_id = "FLEDemo"\nkey_name = "DemoPublicKey"\n'
        'backend = "file"\npath = "absent.pem"\n'
    )
    monkeypatch.setenv("FLE_KEYSTORE", str(keystore))
    two = sdk_encrypt([KeySpec(rsa_key), KeySpec(rsa_key, key_name="K2")], b"x")
    results = decrypt(
        decrypt_env, sdk_encrypt([KeySpec(rsa_key)], b"x", SIGNED_V1), two, proxy_encrypt(rsa_key, b"x")
    )
    codes = [r["error"] for r in results]
    assert codes == ["policy_refused", "policy_refused", "key_unavailable"]
    assert results[0]["detail"].startswith("algorithm suite 0x0378 is not accepted")
    assert results[1]["detail"].startswith("message has 2 encrypted data keys")
    assert results[2]["detail"].startswith("key backend unavailable: cannot read private key file")
