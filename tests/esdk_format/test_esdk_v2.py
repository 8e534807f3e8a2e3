"""The committing-suite encoder (v2, 0x0478) against aws-encryption-sdk itself."""

from __future__ import annotations

import base64

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_proxy.encrypting import esdk, esdk_v2
from tests.helpers import raw_master_key

# The strictest policy: the SDK refuses any message that does not commit to its key.
STRICT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
# The decryptor's policy (decryptor/core.py): accepts 0x0178 and 0x0478.
DECRYPTOR_POLICY = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)


def field_key(key: rsa.RSAPrivateKey) -> esdk.FieldKey:
    return esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey")


@pytest.mark.parametrize("size", [0, 1, 12, 4095, 4096, 4097, 8192, 10_000])
def test_sdk_decrypts_committing_messages(rsa_key: rsa.RSAPrivateKey, size: int) -> None:
    plaintext = bytes(i % 251 for i in range(size))
    message = esdk_v2.encrypt(plaintext, field_key(rsa_key))
    decrypted, header = STRICT.decrypt(source=message, key_provider=raw_master_key(rsa_key))
    assert decrypted == plaintext
    assert header.algorithm.algorithm_id == 0x0478
    assert header.version.value == 2
    assert header.encryption_context == {}
    [edk] = header.encrypted_data_keys
    assert edk.key_provider.provider_id == "FLEDemo"
    assert edk.key_provider.key_info == b"DemoPublicKey"
    assert DECRYPTOR_POLICY.decrypt(source=message, key_provider=raw_master_key(rsa_key))[0] == plaintext


def test_strict_policy_refuses_the_non_committing_suite(rsa_key: rsa.RSAPrivateKey) -> None:
    """The control: the strict client really checks commitment, so the test above can fail."""
    with pytest.raises(AWSEncryptionSDKClientError):
        STRICT.decrypt(source=esdk.encrypt(b"x", field_key(rsa_key)), key_provider=raw_master_key(rsa_key))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=9000), st.text(max_size=300).map(str.encode)))
def test_property_sdk_decrypts_random_fields(rsa_key: rsa.RSAPrivateKey, plaintext: bytes) -> None:
    message = esdk_v2.encrypt(plaintext, field_key(rsa_key))
    assert STRICT.decrypt(source=message, key_provider=raw_master_key(rsa_key))[0] == plaintext


def test_a_wrong_commitment_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    message = bytearray(esdk_v2.encrypt(b"404-555-0150", field_key(rsa_key)))
    wrapped_len = rsa_key.key_size // 8
    name_len = len(b"DemoPublicKey")
    # version 1 + suite 2 + id 32 + aad len 2 + edk count 2 + provider 2+7 + name 2+n + wrapped 2+w + 1 + 4
    commitment_at = 1 + 2 + 32 + 2 + 2 + 2 + 7 + 2 + name_len + 2 + wrapped_len + 1 + 4
    message[commitment_at] ^= 1
    with pytest.raises(AWSEncryptionSDKClientError):
        STRICT.decrypt(source=bytes(message), key_provider=raw_master_key(rsa_key))


def test_base64_starts_with_the_v2_header(rsa_key: rsa.RSAPrivateKey) -> None:
    message = esdk_v2.encrypt(b"x", field_key(rsa_key))
    assert message[:3] == b"\x02\x04\x78"
    assert base64.b64encode(message).startswith(b"AgR4")


def test_every_v2_message_has_its_own_message_id(rsa_key: rsa.RSAPrivateKey) -> None:
    """The one draw per message (data key, then the 32-byte message id) is fresh each time."""
    messages = [esdk_v2.encrypt(b"404-555-0150", field_key(rsa_key)) for _ in range(40)]
    assert len({m[3:35] for m in messages}) == 40  # version 02, suite (2 bytes), then the message id
