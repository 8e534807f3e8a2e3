"""Trust between two tokens: a member receives a source's backups once both security officers agree.

Each member token generates a *transport* RSA key pair (its private half only unwraps, and never leaves
the member); each source token generates a *signer* pair. The source's security officer marks the
member's transport public key CKA_TRUSTED in the source, so backup keys may be wrapped for it; the
member's security officer marks the source's signer public key CKA_TRUSTED in the member, and only
archives that key signed are restored there (docs/hsm-backup.md).
"""

from __future__ import annotations

import logging
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pkcs11 import Attribute, KeyType, ObjectClass

from .hsm_tokens import (
    MEMBER_PREFIX,
    SIGNER_LABEL,
    SOURCE_PREFIX,
    TRANSPORT_BITS,
    TRANSPORT_LABEL,
    HsmError,
    OpenToken,
    Token,
    find_one,
    fingerprint,
    public_of,
    public_template,
)

log = logging.getLogger("keystore.hsm")


def _ensure_pair(session: Any, label: str, *, sign: bool) -> RSAPublicKey:
    """The RSA pair labelled `label`, generated in the token if missing: private half sensitive, never
    extractable, for signing (the signer) or for unwrapping only (a transport key)."""
    private = find_one(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
    if private is None:
        _, private = session.generate_keypair(
            KeyType.RSA,
            TRANSPORT_BITS,
            store=True,
            label=label,
            id=label.encode(),
            public_template={
                Attribute.PRIVATE: False,
                Attribute.VERIFY: sign,
                Attribute.WRAP: not sign,
                Attribute.ENCRYPT: False,
            },
            private_template={
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: sign,
                Attribute.UNWRAP: not sign,
                Attribute.DECRYPT: False,
            },
        )
        log.info("generated %s key pair %r", "signing" if sign else "transport", label)
    return public_of(private)


def _trust_public(session: Any, public: RSAPublicKey, label: str, *, wrap: bool) -> bool:
    """In an SO session: a public token object for `public`, CKA_TRUSTED; False if it was there."""
    existing = find_one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
    if existing is not None:
        if fingerprint(public_of(existing)) != label.split(":", 1)[1] or not existing[Attribute.TRUSTED]:
            raise HsmError(f"object {label!r} exists but is not the trusted key it should be")
        return False
    session.create_object(
        {
            **public_template(public),
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.TRUSTED: True,
            Attribute.LABEL: label,
            Attribute.WRAP: wrap,
            Attribute.VERIFY: not wrap,
            Attribute.ENCRYPT: False,
            Attribute.MODIFIABLE: False,
        }
    )
    return True


def trust(source: Token, member: Token) -> list[str]:
    """Make `member` able to receive `source`'s backups; what was done, one line each.

    Needs both tokens' user PINs (to generate the transport and signer pairs inside them) and both
    security officers' PINs: the source's SO trusts the member's transport key, the member's SO trusts
    the source's signer key. Idempotent."""
    if (source.module, source.label) == (member.module, member.label):
        raise HsmError(f"token {source.label!r} cannot be its own member")
    source.need_so_pin("trusting a member")
    member.need_so_pin("trusting a source")
    done = []
    src, dst = OpenToken(source), OpenToken(member)
    with dst.module.entered():
        with dst.user() as session:
            transport = _ensure_pair(session, TRANSPORT_LABEL, sign=False)
    with src.module.entered():
        with src.user() as session:
            signer = _ensure_pair(session, SIGNER_LABEL, sign=True)
        with src.so("trusting a member") as session:
            label = MEMBER_PREFIX + fingerprint(transport)
            if _trust_public(session, transport, label, wrap=True):
                done.append(
                    f"{source.label}: trusts {member.label}'s transport key {fingerprint(transport)[:16]}"
                )
    with dst.module.entered():
        with dst.so("trusting a source") as session:
            label = SOURCE_PREFIX + fingerprint(signer)
            if _trust_public(session, signer, label, wrap=False):
                done.append(
                    f"{member.label}: accepts archives signed by {source.label} ({fingerprint(signer)[:16]})"
                )
    return done or [f"{member.label} already receives {source.label}'s backups"]


def untrust(source: Token, member: Token) -> list[str]:
    """Stop making `source`'s backups for `member`: its SO deletes the member's trusted transport key.

    Archives made before still carry a copy of their backup key for the member."""
    dst = OpenToken(member)
    with dst.module.entered(), dst.user() as session:
        transport = find_one(
            session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: TRANSPORT_LABEL}
        )
        if transport is None:
            raise HsmError(f"token {member.label!r} has no transport key: it was never a member")
        label = MEMBER_PREFIX + fingerprint(public_of(transport))
    src = OpenToken(source)
    with src.module.entered(), src.so("removing a member") as session:
        trusted = find_one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
        if trusted is None:
            return [f"{source.label} does not make backups for {member.label}"]
        trusted.destroy()
    return [
        f"{source.label}: no longer trusts {member.label}'s transport key {label[len(MEMBER_PREFIX) :][:16]}"
    ]
