"""Restore: an archive's keys unwrapped inside the member tokens, all or nothing across the members.

Every refusal comes before anything is made in any member: the archive's signature, verified inside the
member with the signer key its security officer trusted; a copy of the backup key for this member; the
member's rollback counter; labels that already hold a different key. Then each key is unwrapped in the
member, proven by a round trip with its public key, and only then is the counter written. Any failure
destroys every object restore made, in every member.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e

from .hsm_archive import Archive, unb64
from .hsm_tokens import (
    RESTORED_PREFIX,
    SOURCE_PREFIX,
    TRANSPORT_LABEL,
    HsmError,
    KeyRef,
    OpenToken,
    Token,
    find_one,
    fingerprint,
    public_of,
    public_template,
)
from .hsm_wrap import prove, unwrap_backup_key, unwrap_private_key


@dataclass(frozen=True, slots=True)
class Restored:
    token: str
    key: str
    outcome: str  # "restored", "already present" or "not in archive" (a keystore key the archive lacks)


@dataclass
class _Plan:
    """What restore does in one member token, worked out before anything is made."""

    token: Token
    opened: OpenToken
    session: Any
    transport: Any  # the member's transport private key
    wrapped_backup_key: bytes
    work: list[tuple[KeyRef, dict[str, Any]]]  # (target, archive key) to restore
    present: list[KeyRef]
    last: int | None
    created: list[Any] = field(default_factory=list)


def _check_member(archive: Archive, plan: _Plan, allow_older: bool) -> None:
    session, name = plan.session, plan.token.label
    trusted = find_one(
        session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: SOURCE_PREFIX + archive.signer}
    )
    if trusted is None or not trusted[Attribute.TRUSTED] or fingerprint(public_of(trusted)) != archive.signer:
        raise HsmError(
            f"token {name!r} does not trust the archive's source "
            f"({archive.manifest['source']['token_label']!r}, "
            f"signer {archive.signer[:16]}): run `fle hsm trust --keystore SRC.toml --member DST.toml` with "
            "both security officers, then take a new backup"
        )
    if not archive.verified_by(trusted):
        raise HsmError(
            "the archive was changed after it was made: its signature does not verify; nothing restored"
        )
    transport = find_one(
        session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: TRANSPORT_LABEL}
    )
    if transport is None:
        raise HsmError(f"token {name!r} has no transport key: run `fle hsm trust` for it first")
    mine = fingerprint(public_of(transport))
    for member in archive.manifest["members"]:
        if member["transport"] == mine:
            plan.transport, plan.wrapped_backup_key = transport, unb64(member["backup_key"])
            break
    else:
        raise HsmError(
            f"the archive was not made for token {name!r}: the source did not trust its transport key when "
            "the backup was taken. Run `fle hsm trust`, then take a new backup"
        )
    last = find_one(
        session, {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: RESTORED_PREFIX + archive.signer}
    )
    plan.last = int(bytes(last[Attribute.VALUE]).decode("ascii")) if last is not None else None
    if plan.last is not None and archive.sequence < plan.last and not allow_older:
        raise HsmError(
            f"token {name!r} already restored backup {plan.last} of this source; this archive is backup "
            f"{archive.sequence}, older. Give --allow-older to restore it anyway"
        )
    for ref, key in list(plan.work):
        existing = list(session.get_objects(_target_attrs(ref, key)))
        if not existing:
            continue
        if len(existing) == 1 and fingerprint(public_of(existing[0])) == key["public_key_sha256"]:
            plan.work.remove((ref, key))
            plan.present.append(ref)
            continue
        raise HsmError(f"token {name!r} already holds a different private key labelled {ref.key_label!r}")


def _target_attrs(ref: KeyRef, key: dict[str, Any]) -> dict[Attribute, Any]:
    return {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.LABEL: ref.key_label or key["key_label"],
    }


def _restore_keys(archive: Archive, plan: _Plan) -> None:
    """Unwrap in the member; every object made goes to plan.created (destroyed on failure)."""
    session = plan.session
    backup_key = unwrap_backup_key(plan.token.label, plan.transport, plan.wrapped_backup_key)
    plan.created.append(backup_key)
    for ref, key in plan.work:
        label = ref.key_label or key["key_label"]
        key_id = ref.key_id if ref.key_id is not None else bytes.fromhex(key["key_id"])
        private = unwrap_private_key(
            backup_key,
            f"token {plan.token.label!r} cannot unwrap {ref.name}",
            unb64(key["wrapped"]),
            label,
            key_id,
            key["attributes"],
        )
        plan.created.append(private)
        public = serialization.load_der_public_key(unb64(key["public_key"]))
        assert isinstance(public, RSAPublicKey)
        if (
            fingerprint(public) != key["public_key_sha256"]
            or fingerprint(public_of(private)) != key["public_key_sha256"]
        ):
            raise HsmError(f"{ref.name}: the unwrapped key is not the one the manifest names")
        plan.created.append(
            session.create_object(
                {
                    **public_template(public),
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.ENCRYPT: True,
                    Attribute.WRAP: True,
                    Attribute.VERIFY: False,
                }
            )
        )
        prove(private, public, f"{ref.name} in token {plan.token.label!r}")


def restore(
    archive: Archive, targets: dict[Token, list[KeyRef]], allow_older: bool = False
) -> list[Restored]:
    """Restore into each member token the keys `targets` names; all or nothing across the members."""
    plans: list[_Plan] = []
    entered: set[str] = set()
    absent = [
        (t, r) for t, refs in targets.items() for r in refs if archive.key(r.provider_id, r.key_name) is None
    ]
    if len(absent) == sum(len(refs) for refs in targets.values()):
        held = ", ".join(f"{k['provider_id']}/{k['key_name']}" for k in archive.manifest["keys"])
        raise HsmError(f"the archive holds none of the keystore's keys (it holds {held})")
    stack = contextlib.ExitStack()
    with stack:
        for token, refs in targets.items():
            work = []
            for ref in refs:
                key = archive.key(ref.provider_id, ref.key_name)
                if key is not None:
                    work.append((ref, key))
            opened = OpenToken(token)
            if token.module not in entered:  # once per library: entered() may be a plain lock
                entered.add(token.module)
                stack.enter_context(opened.module.entered())
            session = stack.enter_context(opened.user())
            plans.append(_Plan(token, opened, session, None, b"", work, [], None))
        for plan in plans:  # every refusal before anything is made in any token
            _check_member(archive, plan, allow_older)
        # the members' restore counters: written all before any previous one is destroyed, so a failure in
        # one member leaves every member's previous counter as it was
        written, replaced = [], []
        try:
            for plan in plans:
                if plan.work:
                    _restore_keys(archive, plan)
            for plan in plans:
                attrs = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: RESTORED_PREFIX + archive.signer}
                current = find_one(plan.session, attrs)
                number = max(archive.sequence, plan.last or 0)
                written.append(
                    plan.session.create_object(
                        {
                            **attrs,
                            Attribute.TOKEN: True,
                            Attribute.PRIVATE: True,
                            Attribute.VALUE: str(number).encode(),
                        }
                    )
                )
                if current is not None:
                    replaced.append(current)
            for current in replaced:
                current.destroy()
        except BaseException:
            for obj in written:
                with contextlib.suppress(p11e.PKCS11Error):
                    obj.destroy()
            for plan in plans:
                for obj in reversed(plan.created):
                    with contextlib.suppress(p11e.PKCS11Error):
                        obj.destroy()
            raise
        for plan in plans:  # the backup key is a session object; gone with the session anyway
            if plan.created:
                with contextlib.suppress(p11e.PKCS11Error):
                    plan.created[0].destroy()
    results = []
    for plan in plans:
        results += [Restored(plan.token.label, ref.name, "restored") for ref, _ in plan.work]
        results += [Restored(plan.token.label, ref.name, "already present") for ref in plan.present]
    return results + [Restored(token.label, ref.name, "not in archive") for token, ref in absent]
