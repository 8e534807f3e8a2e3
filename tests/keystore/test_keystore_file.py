"""The keystore file and the `file` backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keystore import Keystore, KeystoreConfigError, UnknownKey, UnwrapError, Wrapping
from keystore.tooling import create_file_key
from tests.helpers import private_pem, write_file_keystore


@pytest.fixture
def keystore_path(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "correct horse")
    return write_file_keystore(tmp_path, rsa_key, "correct horse")


@pytest.mark.parametrize("wrapping", list(Wrapping))
def test_unwraps_each_wrapping(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch, wrapping: Wrapping
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    path = write_file_keystore(tmp_path, rsa_key, "pw")
    path.write_text(path.read_text() + f'wrapping = "{wrapping.value}"\n')
    keystore = Keystore.from_file(path)
    data_key = os.urandom(32)
    wrapped = rsa_key.public_key().encrypt(data_key, wrapping.padding())
    assert (
        keystore.backend("FLEDemo", "DemoPublicKey").unwrap(
            wrapped, keystore.entry("FLEDemo", "DemoPublicKey").wrapping
        )
        == data_key
    )


def test_wrong_data_key_is_an_opaque_error(keystore_path: Path, other_rsa_key: rsa.RSAPrivateKey) -> None:
    backend = Keystore.from_file(keystore_path).backend("FLEDemo", "DemoPublicKey")
    wrapped = other_rsa_key.public_key().encrypt(b"k" * 32, Wrapping.RSA_OAEP_SHA256_MGF1.padding())
    with pytest.raises(UnwrapError, match="could not be unwrapped"):
        backend.unwrap(wrapped, Wrapping.RSA_OAEP_SHA256_MGF1)


def test_unknown_key(keystore_path: Path) -> None:
    with pytest.raises(UnknownKey, match="provider 'FLEDemo' key 'Other'"):
        Keystore.from_file(keystore_path).backend("FLEDemo", "Other")


def test_key_file_readable_by_others_is_refused(keystore_path: Path) -> None:
    (keystore_path.parent / "DemoPublicKey.pem").chmod(0o644)
    with pytest.raises(KeystoreConfigError, match="chmod 600"):
        Keystore.from_file(keystore_path).backend("FLEDemo", "DemoPublicKey")


def test_passphrase_problems(keystore_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_KEY_PASSPHRASE")
    with pytest.raises(KeystoreConfigError, match=r"TEST_KEY_PASSPHRASE .* is not set"):
        Keystore.from_file(keystore_path).backend("FLEDemo", "DemoPublicKey")
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "wrong")
    with pytest.raises(KeystoreConfigError, match="wrong passphrase") as refused:
        Keystore.from_file(keystore_path).backend("FLEDemo", "DemoPublicKey")
    assert "DER" not in str(refused.value)  # a PEM file with a wrong passphrase needs no conversion


def test_a_der_key_file_gets_the_conversion_hint(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    der = tmp_path / "key.der"
    der.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    der.chmod(0o600)
    (tmp_path / "ks.toml").write_text(
        '[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "file"\npath = "key.der"\n'
        'passphrase_env = "TEST_KEY_PASSPHRASE"\n'
    )
    with pytest.raises(KeystoreConfigError, match=r"not a PEM private key .*openssl pkcs8"):
        Keystore.from_file(tmp_path / "ks.toml").backend("P", "K")


def test_unencrypted_key_file_is_accepted_with_a_warning(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    pem = tmp_path / "plain.pem"
    pem.write_bytes(private_pem(rsa_key))
    pem.chmod(0o600)
    (tmp_path / "ks.toml").write_text(
        '[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "file"\npath = "plain.pem"\n'
    )
    Keystore.from_file(tmp_path / "ks.toml").backend("P", "K")
    assert "not encrypted" in caplog.text


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("", "no [[key]] entries"),
        ("[[key]\n", "invalid TOML"),
        ('[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "vault"\n', "unknown backend 'vault'"),
        ('[[key]]\nprovider_id = "P"\nbackend = "file"\npath = "x"\n', "'key_name' must be"),
        (
            '[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "file"\npath = "x"\npin = "1234"\n',
            "unknown setting",
        ),
        (
            '[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "file"\npath = "x"\nwrapping = "AES"\n',
            "unknown wrapping",
        ),
        ('[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "file"\npath = "x"\n' * 2, "already defined"),
    ],
)
def test_keystore_file_errors(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "ks.toml").write_text(toml)
    with pytest.raises(KeystoreConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        Keystore.from_file(tmp_path / "ks.toml")


def test_create_file_key_is_encrypted_and_private(tmp_path: Path) -> None:
    public = create_file_key(tmp_path / "k.pem", b"pw")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()
    assert public.key_size == 2048
    with pytest.raises(KeystoreConfigError, match="never written unencrypted"):
        create_file_key(tmp_path / "k2.pem", b"")
