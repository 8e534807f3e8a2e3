"""The proxy's message encoder against aws-encryption-sdk itself, both ways round."""

from __future__ import annotations

import base64
import struct

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_proxy.encrypting import esdk
from tests.helpers import raw_master_key

CLIENT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)


def field_key(key: rsa.RSAPrivateKey) -> esdk.FieldKey:
    return esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey")


@pytest.mark.parametrize("size", [0, 1, 12, 4095, 4096, 4097, 8192, 10_000, 64 * 1024])
def test_sdk_decrypts_what_the_proxy_encrypts(rsa_key: rsa.RSAPrivateKey, size: int) -> None:
    plaintext = bytes(i % 251 for i in range(size))
    message = esdk.encrypt(plaintext, field_key(rsa_key))
    decrypted, header = CLIENT.decrypt(source=message, key_provider=raw_master_key(rsa_key))
    assert decrypted == plaintext
    assert header.algorithm.algorithm_id == 0x0178
    assert header.encryption_context == {}
    [edk] = header.encrypted_data_keys
    assert edk.key_provider.provider_id == "FLEDemo"
    assert edk.key_provider.key_info == b"DemoPublicKey"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=9000), st.text(max_size=300).map(str.encode)))
def test_property_sdk_decrypts_random_fields(rsa_key: rsa.RSAPrivateKey, plaintext: bytes) -> None:
    message = esdk.encrypt(plaintext, field_key(rsa_key))
    assert CLIENT.decrypt(source=message, key_provider=raw_master_key(rsa_key))[0] == plaintext


def test_header_layout_is_cloudfronts(rsa_key: rsa.RSAPrivateKey) -> None:
    drawn: list[int] = []

    def fixed(n: int) -> bytes:  # one draw per message: the data key, then the message id
        drawn.append(n)
        return (bytes(range(32)) + bytes(range(100, 116)))[:n]

    message = esdk.encrypt(b"404-555-0150", field_key(rsa_key), random=fixed)
    assert drawn == [48]
    assert base64.b64encode(message).startswith(b"AYABe")  # 01 80 01 78: v1, type 0x80, suite 0x0178
    assert message[4:20] == bytes(range(100, 116))  # message id
    assert message[20:24] == b"\x00\x00\x00\x01"  # no encryption context, one data key
    assert message[24:26] == struct.pack(">H", 7) and message[26:33] == b"FLEDemo"
    assert message[33:35] == struct.pack(">H", 13) and message[35:48] == b"DemoPublicKey"
    assert message[48:50] == struct.pack(">H", 256)  # RSA-2048 ciphertext length
    assert rsa_key.decrypt(message[50:306], esdk._OAEP) == bytes(range(32))
    assert message[306:307] == b"\x02"  # framed
    assert message[307:316] == b"\x00\x00\x00\x00\x0c" + struct.pack(">I", 4096)


def test_tampering_is_detected(rsa_key: rsa.RSAPrivateKey) -> None:
    message = bytearray(esdk.encrypt(b"secret", field_key(rsa_key)))
    message[-20] ^= 1
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises several types; any failure will do
        CLIENT.decrypt(source=bytes(message), key_provider=raw_master_key(rsa_key))


def test_wrong_provider_id_is_not_decrypted(rsa_key: rsa.RSAPrivateKey) -> None:
    message = esdk.encrypt(b"secret", esdk.FieldKey(rsa_key.public_key(), b"Other", b"DemoPublicKey"))
    with pytest.raises(Exception):  # noqa: B017
        CLIENT.decrypt(source=message, key_provider=raw_master_key(rsa_key))


def test_every_message_has_its_own_data_key_and_message_id(rsa_key: rsa.RSAPrivateKey) -> None:
    """The one draw per message (data key, then message id) is fresh each time: no key or id repeats, and
    the data key is not the message id's neighbour bytes reused."""
    messages = [esdk.encrypt(b"404-555-0150", field_key(rsa_key)) for _ in range(40)]
    ids = {m[4:20] for m in messages}
    keys = {rsa_key.decrypt(m[50:306], esdk._OAEP) for m in messages}
    assert len(ids) == len(keys) == 40
    assert not any(m[4:20] in rsa_key.decrypt(m[50:306], esdk._OAEP) for m in messages[:5])
