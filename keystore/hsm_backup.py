"""Backup of HSM-held keys from a source token, for the members it trusts; no key in plaintext outside one.

The hierarchy (docs/hsm-backup.md draws it beside CloudHSM's), one module per concern:
- hsm_trust: each member token generates a *transport* RSA key pair, whose private half never leaves the
  member; the source token's security officer marks the member's transport public key CKA_TRUSTED in the
  source (`trust`); the member's security officer marks the source's *signer* public key CKA_TRUSTED in
  the member, and only archives that key signed are restored there;
- here, `backup` makes a fresh AES-256 *backup key* inside the source (a session object: gone with the
  session), trusted by the source's security officer for that one backup, wraps each key under it inside
  the source (CKM_AES_KEY_WRAP_PAD), and wraps the backup key under each trusted transport key
  (CKM_RSA_PKCS_OAEP) (hsm_wrap); keys made with `fle keys create --backup` carry CKA_WRAP_WITH_TRUSTED,
  so the token refuses to wrap them under anything else;
- the manifest (keys, protections, public-key fingerprints, sequence number, time, the wrapped keys) is
  signed inside the source by the signer key (hsm_archive); hsm_restore verifies it inside the member
  with the signer key its security officer trusted, unwraps inside the member only, proves each key by a
  round trip with its public key, and otherwise destroys whatever it made;
- hsm_tokens: the tokens, their logins and the objects kept in them.

PINs are only passed to C_Login; no message or log line here contains one.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Sequence
from typing import Any

from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e

from .hsm_archive import FORMAT, archive_bytes, b64, sign_manifest
from .hsm_tokens import (
    SEQUENCE_LABEL,
    SIGNER_LABEL,
    HsmError,
    KeyRef,
    OpenToken,
    Token,
    find_one,
    find_private_key,
    fingerprint,
    public_of,
    spki,
)
from .hsm_wrap import make_backup_key, wrap_for_members, wrap_private_key

log = logging.getLogger("keystore.hsm")


def _refuse_unbackupable(token: Token, ref: KeyRef, key: Any) -> None:
    if not key[Attribute.EXTRACTABLE]:
        raise HsmError(
            f"{ref.name} cannot be backed up: it was created never-extractable in token {token.label!r} "
            "(CKA_EXTRACTABLE false), so no token will ever let it out, even wrapped. That is the "
            "default, on purpose. To have a key you can back up, create a new one with `fle keys create "
            "--backend pkcs11 ... --backup` (extractable only under a trusted wrapping key), move the "
            "profile and stored values to it (docs/key-rotation.md), then back that one up"
        )
    if not key[Attribute.WRAP_WITH_TRUSTED] or not key[Attribute.SENSITIVE]:
        raise HsmError(
            f"{ref.name} in token {token.label!r} is extractable without CKA_WRAP_WITH_TRUSTED and "
            "CKA_SENSITIVE: anyone with the user PIN could wrap it under a key of their own and take it "
            "out. fle backs up only keys made with `fle keys create --backend pkcs11 ... --backup`"
        )


def _next_sequence(session: Any) -> int:
    """The source's archive counter, kept in the token (a private data object), incremented."""
    attrs = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: SEQUENCE_LABEL}
    current = find_one(session, attrs)
    number = int(bytes(current[Attribute.VALUE]).decode("ascii")) + 1 if current is not None else 1
    _store_number(session, attrs, current, number)
    return number


def _store_number(session: Any, attrs: dict[Attribute, Any], current: Any | None, number: int) -> None:
    session.create_object(
        {
            **attrs,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.VALUE: str(number).encode("ascii"),
        }
    )
    if current is not None:
        current.destroy()


def backup(source: Token, refs: Sequence[KeyRef], now: datetime.datetime | None = None) -> bytes:
    """An archive of `refs` from `source`, for every member the source trusts (bytes of JSON)."""
    if not refs:
        raise HsmError("no keys to back up")
    src = OpenToken(source)
    created = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with src.module.entered():
        with src.user() as session:  # refuse before the security officer is asked for anything
            for ref in refs:
                _refuse_unbackupable(source, ref, find_private_key(session, source, ref))
            if (
                find_one(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: SIGNER_LABEL})
                is None
            ):
                raise HsmError(f"token {source.label!r} has no member yet: run `fle hsm trust` first")
        holder = src.anonymous()
        try:
            with src.so("making the backup key") as _:
                backup_key = make_backup_key(holder)
            with src.user() as session:
                manifest = _backup_manifest(source, refs, session, backup_key, created)
                body, signature = sign_manifest(session, source.label, manifest)
            with contextlib.suppress(p11e.PKCS11Error):
                backup_key.destroy()
        finally:
            with contextlib.suppress(p11e.PKCS11Error):
                holder.close()
    data = archive_bytes(body, signature)
    log.info("backup %d of token %r: %d key(s)", manifest["sequence"], source.label, len(refs))
    return data


def _backup_manifest(
    source: Token, refs: Sequence[KeyRef], session: Any, backup_key: Any, created: str
) -> dict[str, Any]:
    members = wrap_for_members(session, source.label, backup_key)
    keys = []
    for ref in refs:
        private = find_private_key(session, source, ref)
        public = public_of(private)
        wrapped = wrap_private_key(backup_key, private)
        keys.append(
            {
                "provider_id": ref.provider_id,
                "key_name": ref.key_name,
                "key_label": private[Attribute.LABEL],
                "key_id": bytes(private[Attribute.ID]).hex(),
                "bits": public.key_size,
                "public_key": b64(spki(public)),
                "public_key_sha256": fingerprint(public),
                "attributes": {
                    "sensitive": bool(private[Attribute.SENSITIVE]),
                    "extractable": bool(private[Attribute.EXTRACTABLE]),
                    "wrap_with_trusted": bool(private[Attribute.WRAP_WITH_TRUSTED]),
                    "decrypt": bool(private[Attribute.DECRYPT]),
                    "unwrap": bool(private[Attribute.UNWRAP]),
                    "sign": bool(private[Attribute.SIGN]),
                },
                "wrapped": b64(wrapped),
                "wrap_mechanism": "CKM_AES_KEY_WRAP_PAD",
            }
        )
    signer = find_one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: SIGNER_LABEL})
    if signer is None:
        raise HsmError(f"token {source.label!r} lost its signer's public key: run `fle hsm trust` again")
    return {
        "format": FORMAT,
        "source": {"token_label": source.label, "signer": fingerprint(public_of(signer))},
        "sequence": _next_sequence(session),
        "created": created,
        "backup_key_wrap": "CKM_RSA_PKCS_OAEP SHA-1",
        "members": members,
        "keys": keys,
    }
