"""Making keys: an RSA key pair whose private half goes to a backend and whose public half is returned."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import KeystoreConfigError

KEY_SIZES = (2048, 3072, 4096)


def public_pem(key: rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM, the form CloudFront's EncodedKey takes."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def create_file_key(path: Path, passphrase: bytes, bits: int = 2048) -> rsa.RSAPublicKey:
    """Write a new RSA private key to `path` as encrypted PKCS#8 (mode 0600); return its public key."""
    if bits not in KEY_SIZES:
        raise KeystoreConfigError(f"key size must be one of {KEY_SIZES}")
    if not passphrase:
        raise KeystoreConfigError("a passphrase is required: private keys are never written unencrypted")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key.public_key()
