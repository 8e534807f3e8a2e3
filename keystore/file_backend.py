"""`backend = "file"`: a PKCS#8 PEM private key file, encrypted with a passphrase from the environment."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .base import KeyBackend
from .errors import BackendUnavailable, KeystoreConfigError, UnwrapError
from .settings import FileSettings
from .wrapping import Wrapping

log = logging.getLogger("keystore")


def _unreadable(path: Path, data: bytes, passphrase_env: str | None) -> str:
    """Why a key file did not load: a wrong passphrase for an encrypted PEM, or not PEM at all (DER)."""
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        return f"wrong passphrase for private key file {str(path)!r} (from {passphrase_env})"
    if b"-----BEGIN" not in data:
        return (
            f"{str(path)!r} is not a PEM private key (convert DER with: "
            "openssl pkcs8 -topk8 -inform DER -in KEY.der -out KEY.pem)"
        )
    return f"{str(path)!r} is not a readable PEM private key"


class FileBackend(KeyBackend):
    """A private key loaded from a PEM file into memory (the least protected backend)."""

    def __init__(self, settings: FileSettings) -> None:
        self.path = path = settings.location
        passphrase_env = settings.passphrase_env
        try:
            info = path.stat()
        except OSError as e:
            raise BackendUnavailable(f"cannot read private key file {str(path)!r}: {e.strerror}") from e
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeystoreConfigError(
                f"private key file {str(path)!r} is accessible to group or others "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run chmod 600 on it"
            )
        passphrase: bytes | None = None
        if passphrase_env:
            value = os.environ.get(passphrase_env)
            if value is None:
                raise KeystoreConfigError(
                    f"environment variable {passphrase_env} (the passphrase of {str(path)!r}) is not set"
                )
            passphrase = value.encode("utf-8")
        data = path.read_bytes()
        try:
            key = load_pem_private_key(data, password=passphrase)
        except TypeError as e:  # encrypted without passphrase, or passphrase for a plain key
            raise KeystoreConfigError(f"{str(path)!r}: {e}; set passphrase_env to match the file") from e
        except ValueError as e:
            raise KeystoreConfigError(_unreadable(path, data, passphrase_env)) from e
        if not isinstance(key, RSAPrivateKey):
            raise KeystoreConfigError(f"{str(path)!r} does not hold an RSA private key")
        if passphrase is None:
            log.warning("private key file %s is not encrypted; set passphrase_env and encrypt it", path)
        self._key = key

    def unwrap(self, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        try:
            return self._key.decrypt(encrypted_key, wrapping.padding())
        except ValueError as e:
            raise UnwrapError("the data key could not be unwrapped") from e

    def public_key(self) -> RSAPublicKey:
        return self._key.public_key()
