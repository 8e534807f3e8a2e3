"""Wrapping and unwrapping inside tokens: the backup key, the keys under it, and the proof of a restored key.

The backup key (AES-256) is made in the source, trusted by its security officer for one backup, and
leaves the source only wrapped (CKM_RSA_PKCS_OAEP) under each member's trusted transport key; the keys
leave the source only wrapped under the backup key (CKM_AES_KEY_WRAP_PAD) and become keys again only in
a member. fle's process handles wrapped blobs, public keys and object handles, never a key's value.
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pkcs11 import DEFAULT, MGF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11e

from .hsm_archive import b64
from .hsm_tokens import MEMBER_PREFIX, HsmError, fingerprint, public_of

OAEP = (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None))  # SoftHSM 2.6: SHA-1 only
# not capabilities: python-pkcs11 would otherwise put ENCRYPT/VERIFY/WRAP into a private key template
NOT_FOR_PRIVATE = {Attribute.ENCRYPT: DEFAULT, Attribute.VERIFY: DEFAULT, Attribute.WRAP: DEFAULT}


# -- in the source --------------------------------------------------------------------------------------
def make_backup_key(holder: Any) -> Any:
    """A fresh AES-256 backup key, made while the source's security officer is logged in (CKA_TRUSTED):
    a public session object of `holder`, so it survives the SO's logout, and dies with `holder`."""
    return holder.generate_key(
        KeyType.AES,
        256,
        store=False,
        label="fle-hsm-backup-key",
        template={
            Attribute.PRIVATE: False,
            Attribute.TRUSTED: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: True,
            Attribute.WRAP_WITH_TRUSTED: True,
            Attribute.WRAP: True,
            Attribute.UNWRAP: False,
            Attribute.ENCRYPT: False,
            Attribute.DECRYPT: False,
            Attribute.MODIFIABLE: False,
        },
    )


def wrap_for_members(session: Any, source_label: str, backup_key: Any) -> list[dict[str, str]]:
    """The backup key wrapped under each transport key the source trusts: the manifest's `members`."""
    members = []
    for member in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY}):
        label = member[Attribute.LABEL]
        if not label.startswith(MEMBER_PREFIX) or not member[Attribute.TRUSTED]:
            continue
        transport = public_of(member)
        if fingerprint(transport) != label[len(MEMBER_PREFIX) :]:
            raise HsmError(f"token {source_label!r}: {label!r} does not hold the key its label names")
        wrapped = member.wrap_key(backup_key, mechanism=OAEP[0], mechanism_param=OAEP[1])
        members.append({"transport": fingerprint(transport), "backup_key": b64(bytes(wrapped))})
    if not members:
        raise HsmError(f"token {source_label!r} trusts no member: run `fle hsm trust` first")
    return members


def wrap_private_key(backup_key: Any, private: Any) -> bytes:
    """A private key of the source, wrapped inside it under the backup key."""
    return bytes(backup_key.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD))


# -- in a member ----------------------------------------------------------------------------------------
def unwrap_backup_key(token_label: str, transport: Any, wrapped: bytes) -> Any:
    """The backup key, unwrapped in the member by its transport private key: a sensitive session object."""
    try:
        return transport.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.AES,
            wrapped,
            mechanism=OAEP[0],
            mechanism_param=OAEP[1],
            store=False,
            template={
                Attribute.UNWRAP: True,
                Attribute.WRAP: False,
                Attribute.ENCRYPT: False,
                Attribute.DECRYPT: False,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.PRIVATE: True,
            },
        )
    except p11e.PKCS11Error as e:
        raise HsmError(f"token {token_label!r} cannot unwrap the backup key ({type(e).__name__})") from e


def unwrap_private_key(
    backup_key: Any, refusal: str, wrapped: bytes, label: str, key_id: bytes, flags: dict[str, Any]
) -> Any:
    """A key of the archive made again in the member (a token object), with the source's protections;
    if the token refuses, HsmError(`refusal` and the PKCS#11 error's name)."""
    try:
        return backup_key.unwrap_key(
            ObjectClass.PRIVATE_KEY,
            KeyType.RSA,
            wrapped,
            mechanism=Mechanism.AES_KEY_WRAP_PAD,
            store=True,
            label=label,
            id=key_id,
            template={
                **NOT_FOR_PRIVATE,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,  # whatever the manifest says: never readable
                Attribute.EXTRACTABLE: bool(flags["extractable"]),
                Attribute.WRAP_WITH_TRUSTED: True,
                Attribute.DECRYPT: bool(flags["decrypt"]),
                Attribute.UNWRAP: bool(flags["unwrap"]),
                Attribute.SIGN: bool(flags["sign"]),
                Attribute.DERIVE: False,
            },
        )
    except p11e.PKCS11Error as e:
        raise HsmError(f"{refusal} ({type(e).__name__})") from e


def prove(private: Any, public: RSAPublicKey, what: str) -> None:
    """A random data key wrapped on the host with `public`, unwrapped in the token by `private`."""
    data_key = secrets.token_bytes(32)
    wrapped = public.encrypt(data_key, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    try:
        # python-pkcs11 gives an object without CKA_DECRYPT no decrypt method: AttributeError
        unwrapped = bytes(private.decrypt(wrapped, mechanism=OAEP[0], mechanism_param=OAEP[1]))
    except (p11e.PKCS11Error, AttributeError) as e:
        raise HsmError(f"{what}: the round trip with its public key failed ({type(e).__name__})") from e
    if not secrets.compare_digest(unwrapped, data_key):
        raise HsmError(f"{what}: the round trip with its public key gave a different data key")
