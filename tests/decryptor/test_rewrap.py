"""decryptor/rewrap.py against aws-encryption-sdk: a re-wrapped message opens with the new key only."""

from __future__ import annotations

import base64

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor.rewrap import KeyRef, NewKey, RewrapError, names_key, parse, rewrap
from edge_proxy.encrypting import esdk, esdk_v2
from keystore import DEFAULT_WRAPPING
from tests.fixtures_decryptor import KeySpec, _Several, sdk_encrypt
from tests.helpers import raw_master_key

OLD = KeyRef("FLEDemo", "DemoPublicKey")
NEW = KeyRef("FLEDemo", "DemoPublicKey2")
SECRET = b"404-555-0150 " * 400  # several frames


@pytest.fixture(scope="module")
def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _unwrap_with(key: rsa.RSAPrivateKey):  # type: ignore[no-untyped-def]
    return lambda wrapped: key.decrypt(wrapped, DEFAULT_WRAPPING.padding())


def _new(key: rsa.RSAPrivateKey, ref: KeyRef = NEW) -> NewKey:
    return NewKey(ref, key.public_key(), DEFAULT_WRAPPING.padding())


def sdk_decrypt(message: bytes, key: rsa.RSAPrivateKey, ref: KeyRef) -> bytes:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    plaintext, _ = client.decrypt(
        source=message, key_provider=raw_master_key(key, ref.provider_id, ref.key_name)
    )
    return plaintext  # type: ignore[no-any-return]


def _proxy_message(key: rsa.RSAPrivateKey, suite: int) -> bytes:
    field_key = esdk.FieldKey(key.public_key(), OLD.provider_id.encode(), OLD.key_name.encode())
    return (esdk_v2 if suite == esdk_v2.SUITE_ID else esdk).encrypt(SECRET, field_key)


@pytest.mark.parametrize("suite", [esdk.SUITE_ID, esdk_v2.SUITE_ID])
def test_a_rewrapped_proxy_message_opens_with_the_new_key_and_not_the_old(
    rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey, suite: int
) -> None:
    message = _proxy_message(rsa_key, suite)
    rewrapped = rewrap(message, OLD, _new(new_rsa_key), _unwrap_with(rsa_key))
    assert rewrapped is not None
    assert sdk_decrypt(rewrapped, new_rsa_key, NEW) == SECRET
    with pytest.raises(aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError):
        sdk_decrypt(rewrapped, rsa_key, OLD)
    body_start = len(message) - len(parse(message).rest)
    assert rewrapped.endswith(message[body_start:])  # the body was not touched
    assert names_key(rewrapped, NEW) and not names_key(rewrapped, OLD)
    assert rewrap(rewrapped, OLD, _new(new_rsa_key), _unwrap_with(rsa_key)) is None  # idempotent


def test_an_sdk_message_with_an_encryption_context_and_two_keys_keeps_the_other_key(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey
) -> None:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    provider = _Several()
    provider.add_master_key_provider(raw_master_key(rsa_key))
    provider.add_master_key_provider(raw_master_key(other_rsa_key, name="Backup"))
    message, _ = client.encrypt(
        source=b"secret", key_provider=provider, encryption_context={"purpose": "test"},
        algorithm=Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    )  # fmt: skip
    assert len(parse(message).data_keys) == 2
    rewrapped = rewrap(message, OLD, _new(new_rsa_key), _unwrap_with(rsa_key))
    assert rewrapped is not None
    assert sdk_decrypt(rewrapped, new_rsa_key, NEW) == b"secret"
    assert sdk_decrypt(rewrapped, other_rsa_key, KeyRef("FLEDemo", "Backup")) == b"secret"
    with pytest.raises(aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError):
        sdk_decrypt(rewrapped, rsa_key, OLD)


def test_a_message_for_another_key_is_left_alone(
    rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey
) -> None:
    message = _proxy_message(rsa_key, esdk.SUITE_ID)
    assert rewrap(message, KeyRef("FLEDemo", "Other"), _new(new_rsa_key), _unwrap_with(rsa_key)) is None


@pytest.mark.parametrize("suite", [esdk.SUITE_ID, esdk_v2.SUITE_ID])
def test_a_tampered_header_is_refused_not_laundered(
    rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey, suite: int
) -> None:
    message = bytearray(_proxy_message(rsa_key, suite))
    parsed = parse(bytes(message))
    frame_length_at = (
        len(parsed.prefix)
        + 2
        + sum(len(k.serialize()) for k in parsed.data_keys)
        + len(parsed.suffix)
        - (4 if suite == esdk.SUITE_ID else 36)
    )
    message[frame_length_at + 3] ^= 0x01  # the frame length, covered by the header tag only
    with pytest.raises(RewrapError, match=r"authentication failed|commitment"):
        rewrap(bytes(message), OLD, _new(new_rsa_key), _unwrap_with(rsa_key))


def test_a_tampered_commitment_is_refused(rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey) -> None:
    message = bytearray(_proxy_message(rsa_key, esdk_v2.SUITE_ID))
    parsed = parse(bytes(message))
    at = len(message) - len(parsed.rest) - 16 - 1  # the last byte of the commitment key
    message[at] ^= 0x80
    with pytest.raises(RewrapError, match="commitment"):
        rewrap(bytes(message), OLD, _new(new_rsa_key), _unwrap_with(rsa_key))


def test_the_wrong_old_private_key_is_refused(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey
) -> None:
    message = _proxy_message(rsa_key, esdk.SUITE_ID)
    with pytest.raises(RewrapError, match="could not unwrap"):
        rewrap(message, OLD, _new(new_rsa_key), _unwrap_with(other_rsa_key))


def test_a_signed_suite_cannot_be_rewrapped(
    rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey
) -> None:
    value = sdk_encrypt([KeySpec(rsa_key)], b"x", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)
    with pytest.raises(RewrapError, match="0x0578 cannot be re-wrapped"):
        rewrap(base64.b64decode(value), OLD, _new(new_rsa_key), _unwrap_with(rsa_key))


@pytest.mark.parametrize("cut", [1, 5, 30, 300])
def test_a_truncated_header_is_refused(
    rsa_key: rsa.RSAPrivateKey, new_rsa_key: rsa.RSAPrivateKey, cut: int
) -> None:
    message = _proxy_message(rsa_key, esdk.SUITE_ID)[:cut]
    with pytest.raises(RewrapError):
        rewrap(message, OLD, _new(new_rsa_key), _unwrap_with(rsa_key))
    assert names_key(message, OLD) is False
