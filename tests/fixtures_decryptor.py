"""Fixtures for the decryptor's tests: keystores over each backend, an environment, message makers.

Every decryptor test that touches keys takes `make_keystore`, which is parametrized over the keystore
factories named in KEYSTORE_FACTORIES. A factory is a fixture returning a callable
`(keys: Sequence[KeySpec]) -> Path` that puts each RSA private key into its backend under
(provider id, key name), writes a keystore TOML naming them, sets any environment the backend needs
(PINs, passphrases, AWS endpoint) and returns the TOML's path. To run every decryptor test against
another backend, add a factory fixture and its name to KEYSTORE_FACTORIES.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from edge_proxy import esdk
from tests.helpers import raw_master_key, write_file_keystore

KEYSTORE_FACTORIES = ["file_keystore_factory"]  # add "pkcs11_keystore_factory", "ssm_keystore_factory"


@dataclass(frozen=True)
class KeySpec:
    """One private key and the (provider id, key name) its messages carry."""

    key: rsa.RSAPrivateKey
    provider_id: str = "FLEDemo"
    key_name: str = "DemoPublicKey"


KeystoreFactory = Callable[[Sequence[KeySpec]], Path]


@pytest.fixture
def file_keystore_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KeystoreFactory:
    """Keys as encrypted PKCS#8 files (`backend = "file"`)."""
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")

    def make(keys: Sequence[KeySpec]) -> Path:
        path = tmp_path / "keystore-file" / "keystore.toml"
        for spec in keys:
            path = write_file_keystore(
                path.parent, spec.key, "pw", provider_id=spec.provider_id, name=spec.key_name
            )
        return path

    return make


@pytest.fixture(params=KEYSTORE_FACTORIES)
def make_keystore(request: pytest.FixtureRequest) -> KeystoreFactory:
    """The keystore factory of each backend in turn."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class DecryptEnv:
    """The environment a test's handler runs in."""

    keystore: Path
    store_path: Path
    audit_path: Path

    def audit_lines(self) -> list[str]:
        return self.audit_path.read_text().splitlines() if self.audit_path.exists() else []


@pytest.fixture
def decrypt_env(
    make_keystore: KeystoreFactory,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DecryptEnv]:
    """A keystore with the current key (DemoPublicKey) and the one it replaced (OldKey), a SQLite store and
    an audit file, named by FLE_KEYSTORE, FLE_STORE and FLE_AUDIT_FILE."""
    keystore = make_keystore([KeySpec(rsa_key), KeySpec(other_rsa_key, key_name="OldKey")])
    env = DecryptEnv(keystore, tmp_path / "store.db", tmp_path / "audit.jsonl")
    monkeypatch.setenv("FLE_KEYSTORE", str(keystore))
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{env.store_path}")
    monkeypatch.setenv("FLE_AUDIT_FILE", str(env.audit_path))
    for name in ("FLE_ACCEPTED_SUITES", "FLE_MAX_DATA_KEYS", "FLE_MAX_MESSAGE_BYTES", "FLE_DECRYPT_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    handler._decryptors.clear()
    yield env
    for service in handler._decryptors.values():
        service.close()
    handler._decryptors.clear()


def proxy_encrypt(
    key: rsa.RSAPrivateKey, plaintext: bytes, provider: str = "FLEDemo", name: str = "DemoPublicKey"
) -> str:
    """A field value as the edge proxy writes it (suite 0x0178, one data key)."""
    field_key = esdk.FieldKey(key.public_key(), provider.encode(), name.encode())
    return base64.b64encode(esdk.encrypt(plaintext, field_key)).decode()


class _Several(MasterKeyProvider):  # type: ignore[misc]
    """Several raw master keys at once: a message with one encrypted data key per key."""

    provider_id = "several"
    _config_class = MasterKeyProviderConfig

    def _new_master_key(self, key_id: bytes) -> None:
        raise NotImplementedError


def sdk_encrypt(
    keys: Sequence[KeySpec],
    plaintext: bytes,
    algorithm: Algorithm = Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
) -> str:
    """A message written by stock aws-encryption-sdk, one data key per KeySpec."""
    policy = (
        CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if algorithm.is_committing()
        else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
    provider = _Several()
    for spec in keys:
        provider.add_master_key_provider(raw_master_key(spec.key, spec.provider_id, spec.key_name))
    message, _ = client.encrypt(source=plaintext, key_provider=provider, algorithm=algorithm)
    return base64.b64encode(message).decode()
