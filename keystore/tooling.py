"""Making keys: an RSA key pair whose private half goes to a backend and whose public half is returned."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    _check_bits(bits)
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


def _check_bits(bits: int) -> None:
    if bits not in KEY_SIZES:
        raise KeystoreConfigError(f"key size must be one of {KEY_SIZES}")


def pkcs11_private_protections(backup: bool) -> dict[Any, bool]:
    """The private key's protections: never extractable; or, with `backup`, extractable only wrapped under
    a key the token's security officer marked trusted (CKA_WRAP_WITH_TRUSTED), which is how `fle hsm
    backup` copies it into another token without it ever being in plaintext outside one."""
    from pkcs11 import Attribute

    return {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: backup,
        Attribute.WRAP_WITH_TRUSTED: backup,
    }


def create_pkcs11_key(
    module: str, token_label: str, pin: str, key_label: str, bits: int = 2048, *, backup: bool = False
) -> rsa.RSAPublicKey:
    """Generate an RSA key pair inside the token: private half sensitive and never extractable, or with
    `backup` extractable only under a trusted wrapping key (pkcs11_private_protections)."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11 import exceptions as p11e

    from .pkcs11_backend import _public_key_of
    from .pkcs11_library import Module

    _check_bits(bits)
    lib = Module.get(module).lib
    try:
        token = lib.get_token(token_label=token_label)
    except p11e.NoSuchToken as e:
        raise KeystoreConfigError(f"no PKCS#11 token labelled {token_label!r} in {module}") from e
    try:
        session = token.open(user_pin=pin, rw=True)
    except p11e.UserAlreadyLoggedIn:
        session = token.open(rw=True)
    except p11e.PinIncorrect as e:
        raise KeystoreConfigError(f"the PIN of token {token_label!r} is incorrect") from e
    with session:
        existing = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label})
        )
        if existing:
            raise KeystoreConfigError(
                f"token {token_label!r} already holds a private key labelled {key_label!r}"
            )
        key_id = os.urandom(16)
        _, private = session.generate_keypair(
            KeyType.RSA,
            bits,
            store=True,
            label=key_label,
            id=key_id,
            public_template={Attribute.ENCRYPT: True, Attribute.WRAP: True, Attribute.VERIFY: False},
            private_template={
                **pkcs11_private_protections(backup),
                Attribute.PRIVATE: True,
                Attribute.DECRYPT: True,
                Attribute.UNWRAP: True,
                Attribute.SIGN: False,
            },
        )
        return _public_key_of(private)


def _check_kms_key(kms_key_id: str, region: str | None) -> None:
    """Refuse a KMS key that does not exist or is not enabled, before anything is stored."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .errors import BackendUnavailable
    from .ssm_backend import aws_client

    kms = aws_client("kms", region)
    try:
        state = kms.describe_key(KeyId=kms_key_id)["KeyMetadata"].get("KeyState", "Enabled")
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("AccessDeniedException", "AccessDenied"):
            return  # allowed to use the key without describing it: let Parameter Store decide
        if code == "NotFoundException":
            raise KeystoreConfigError(f"KMS key {kms_key_id!r} does not exist") from e
        raise BackendUnavailable(f"KMS: {code}: {e.response.get('Error', {}).get('Message', '')}") from e
    except BotoCoreError as e:
        raise BackendUnavailable(f"cannot reach KMS: {e}") from e
    if state != "Enabled":
        raise KeystoreConfigError(f"KMS key {kms_key_id!r} is {state}, not Enabled")


def store_ssm_key(parameter: str, kms_key_id: str, region: str | None, bits: int = 2048) -> rsa.RSAPublicKey:
    """Generate a key pair in memory and store the private half as a SecureString under `kms_key_id`."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .errors import BackendUnavailable
    from .ssm_backend import explain, ssm_client

    _check_bits(bits)
    _check_kms_key(kms_key_id, region)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    try:
        ssm_client(region).put_parameter(
            Name=parameter,
            Value=pem,
            Type="SecureString",
            KeyId=kms_key_id,
            Overwrite=False,
            Description="RSA private key for field-level encryption (written by fle keys create)",
        )
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ParameterAlreadyExists":
            raise KeystoreConfigError(f"parameter {parameter!r} already exists; choose another name") from e
        raise BackendUnavailable(explain(e, parameter)) from e
    except BotoCoreError as e:
        raise BackendUnavailable(f"cannot reach Parameter Store: {e}") from e
    finally:
        del pem
    return key.public_key()


def public_key_config(public_key: rsa.RSAPublicKey, name: str, comment: str = "") -> dict[str, Any]:
    """A CloudFront `get-public-key` document for this key (Id derived from the key, stable)."""
    import base64
    import datetime
    import hashlib

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ident = "K" + base64.b32encode(hashlib.sha256(der).digest()).decode()[:13]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "ETag": "E" + ident[1:],
        "PublicKey": {
            "Id": ident,
            "CreatedTime": now,
            "PublicKeyConfig": {
                "CallerReference": f"fle-keys-{ident.lower()}",
                "Name": name,
                "EncodedKey": public_pem(public_key),
                "Comment": comment,
            },
        },
    }
