"""Fixtures for the decryptor's tests: keystores over each backend, an environment, message makers.

Every decryptor test that touches keys takes `make_keystore`, which is parametrized over the keystore
factories named in KEYSTORE_FACTORIES. A factory is a fixture returning a callable
`(keys: Sequence[KeySpec]) -> Path` that puts each RSA private key into its backend under
(provider id, key name), writes a keystore TOML naming them, sets any environment the backend needs
(PINs, passphrases, AWS endpoint) and returns the TOML's path. To run every decryptor test against
another backend, add a factory fixture and its name to KEYSTORE_FACTORIES.

The factories of all three backends are listed: file, pkcs11 (the session's SoftHSM2 token `fle-dec`)
and ssm (the session's moto server). Every environment variable a backend needs is set with monkeypatch,
because the CLI tests run `fle decrypt` as a separate process that sees only os.environ.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from edge_proxy.encrypting import esdk
from tests.helpers import private_pem, raw_master_key, write_file_keystore

if TYPE_CHECKING:
    from tests.fixtures_moto import Aws
    from tests.fixtures_softhsm import SoftHsm

KEYSTORE_FACTORIES = ["file_keystore_factory", "pkcs11_keystore_factory", "ssm_keystore_factory"]
DECRYPTOR_TOKEN = "fle-dec"
# For a test whose subject is refused or fails before any key backend is opened (a malformed event, a bad
# setting, a usage error): it runs with the file keystore only, since the other backends would repeat it.
BEFORE_ANY_BACKEND = pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)


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


def _fingerprint(key: rsa.RSAPrivateKey) -> str:
    return hashlib.sha256(str(key.public_key().public_numbers().n).encode()).hexdigest()[:16]


@pytest.fixture(scope="session")
def decryptor_token(softhsm: SoftHsm) -> dict[str, str]:
    """Labels of the keys already imported into the token `fle-dec`, by key fingerprint: a key is imported
    once per session, whatever (provider id, key name) the tests give it."""
    return {}


@pytest.fixture
def pkcs11_keystore_factory(
    softhsm: SoftHsm,
    decryptor_token: dict[str, str],
    pkcs11_pin: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> KeystoreFactory:
    """Keys in a SoftHSM2 token (`backend = "pkcs11"`), sensitive and non-extractable.

    The tests encrypt with the public half of known keys, so these keys are made outside and imported;
    the product never does that (`fle keys create --backend pkcs11` generates inside the token, which
    tests/keystore/test_keystore_pkcs11.py and test_keystore_cli.py cover)."""
    monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm.conf))

    def make(keys: Sequence[KeySpec]) -> Path:
        entries = []
        for spec in keys:
            label = decryptor_token.get(_fingerprint(spec.key))
            if label is None:
                from tests.fixtures_softhsm import import_key  # not at the top: pytest loads it as a plugin

                label = f"dec-{_fingerprint(spec.key)}"
                import_key(softhsm.module, DECRYPTOR_TOKEN, spec.key, label)
                decryptor_token[_fingerprint(spec.key)] = label
            entries.append(
                softhsm.keystore_entry(
                    DECRYPTOR_TOKEN, label, provider_id=spec.provider_id, key_name=spec.key_name, sessions=4
                )
            )
        path = tmp_path / "keystore-pkcs11" / "keystore.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(entries))
        return path

    return make


@pytest.fixture(scope="session")
def decryptor_ssm(moto_server: str) -> Any:
    """One SSM client on moto for the session (a boto3 client takes longer to make than the calls)."""
    import boto3

    from tests.fixtures_moto import REGION  # not at the top: pytest loads it as a plugin

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("ssm", endpoint_url=moto_server)


@pytest.fixture
def ssm_keystore_factory(aws: Aws, decryptor_ssm: Any, tmp_path: Path) -> KeystoreFactory:
    """Keys as SecureString parameters in moto's Parameter Store (`backend = "ssm"`), encrypted under the
    account's default KMS key for SSM, the way the CloudFront sample keeps its private key. The `aws`
    fixture points the AWS environment at moto and resets moto's state after the test."""

    def make(keys: Sequence[KeySpec]) -> Path:
        entries = []
        for spec in keys:
            parameter = f"/fle-test/{spec.provider_id}/{spec.key_name}"
            decryptor_ssm.put_parameter(
                Name=parameter,
                Value=private_pem(spec.key).decode("ascii"),
                Type="SecureString",
                Overwrite=True,
            )
            entries.append(
                f'[[key]]\nprovider_id = "{spec.provider_id}"\nkey_name = "{spec.key_name}"\n'
                f'backend = "ssm"\nparameter = "{parameter}"\nregion = "{aws.region}"\n\n'
            )
        path = tmp_path / "keystore-ssm" / "keystore.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(entries))
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
    handler.reset_cache()
    yield env
    handler.reset_cache()


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


def refused_details(env: DecryptEnv) -> dict[object, tuple[str, str]]:
    """{index or (item id, field): (reason code, detail)} of the refused values in the audit file."""
    found: dict[object, tuple[str, str]] = {}
    for line in map(json.loads, env.audit_lines()):
        if line["outcome"] == "refused":
            where = line["index"] if line["index"] is not None else (line["item_id"], line["field"])
            found[where] = (line["reason"], line["detail"])
    return found


def logged_refusal(caplog: pytest.LogCaptureFixture) -> str:
    """The detail of the last request the handler refused, as it logged it (the answer holds a code only)."""
    lines = [r.getMessage() for r in caplog.records if r.name == "fle.decryptor"]
    assert lines, "the handler logged no refusal"
    return lines[-1]


def with_details(env: DecryptEnv, results: list[dict[str, str]]) -> list[dict[str, str]]:
    """The handler's `results`, each error's code joined by the detail its audit line holds.

    The caller saw the code only; a test compares both at once, as strictly as it compared the old
    worded answers. The audit file is appended to, so the newest line for an index is this call's.
    """
    details = refused_details(env)
    joined: list[dict[str, str]] = []
    for index, result in enumerate(results):
        if "error" in result:
            code, detail = details[index]
            assert code == result["error"], (index, code, result)
            joined.append({"error": code, "detail": detail})
        else:
            joined.append(result)
    return joined
