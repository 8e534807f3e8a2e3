"""FieldEncryptor finds an entity's key by identity first (the config's own entity objects, the tags a
request carries) and by equality after: both give a message aws-encryption-sdk decrypts, and an entity the
config does not hold has no key."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy.encrypting import esdk
from edge_proxy.encrypting.encryptor import FieldEncryptor
from keystore.tooling import public_pem
from profiles import load_config_dir
from profiles.examples import write_example_config
from tests.helpers import raw_master_key

CLIENT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)


def test_the_config_entity_and_an_equal_copy_encrypt_under_its_key(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    write_example_config(tmp_path, public_pem(rsa_key.public_key()))
    config = load_config_dir(tmp_path).only_config()
    entity = config.profiles[0].entities[0]
    copy = dataclasses.replace(entity)
    assert copy == entity and copy is not entity
    encrypt = FieldEncryptor(config).for_suite(esdk.SUITE_ID)
    for tag in (entity, copy):
        message = base64.b64decode(encrypt(b"404-555-0150", tag), validate=True)
        assert CLIENT.decrypt(source=message, key_provider=raw_master_key(rsa_key))[0] == b"404-555-0150"
    stranger = dataclasses.replace(entity, provider_id=entity.provider_id + "-other")
    with pytest.raises(KeyError):
        encrypt(b"404-555-0150", stranger)
