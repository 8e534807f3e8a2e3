"""Small helpers shared by tests: keys, config directories, keystore files, servers on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keystore.tooling import public_pem
from profiles.examples import write_example_config
from testkit.serving import serving  # noqa: F401 (re-exported: tests import it from here too)

# What a timeout measured with loop.time() may read short by: uvloop's loop.time() is libuv's cached
# millisecond clock, so a 0.3 s timer was once measured as 0.29999... s (CI, 2026-12-02).
LOOP_CLOCK_SLACK = 0.002


def private_pem(key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def raw_master_key(
    key: rsa.RSAPrivateKey, provider_id: str = "FLEDemo", name: str = "DemoPublicKey"
) -> RawMasterKey:
    """aws-encryption-sdk's own raw RSA master key: the reference implementation we interoperate with."""
    return RawMasterKey(
        provider_id=provider_id,
        key_id=name.encode(),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
            wrapping_key=private_pem(key),
            wrapping_key_type=EncryptionKeyType.PRIVATE,
        ),
    )


def make_config_dir(directory: Path, key: rsa.RSAPrivateKey) -> Path:
    write_example_config(directory, public_pem(key.public_key()))
    return directory


def edit_json(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def write_file_keystore(
    directory: Path,
    key: rsa.RSAPrivateKey,
    passphrase: str,
    *,
    provider_id: str = "FLEDemo",
    name: str = "DemoPublicKey",
    env: str = "TEST_KEY_PASSPHRASE",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pem_path = directory / f"{name}.pem"
    pem_path.write_bytes(private_pem(key, passphrase.encode()))
    pem_path.chmod(0o600)
    toml = directory / "keystore.toml"
    with toml.open("a") as out:
        out.write(
            f'[[key]]\nprovider_id = "{provider_id}"\nkey_name = "{name}"\nbackend = "file"\n'
            f'path = "{pem_path.name}"\npassphrase_env = "{env}"\n\n'
        )
    return toml
