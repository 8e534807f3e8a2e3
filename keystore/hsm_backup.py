"""Backup, restore and cloning of HSM-held keys between PKCS#11 tokens; no key in plaintext outside one.

The hierarchy (docs/hsm-backup.md draws it beside CloudHSM's):
- each member token generates a *transport* RSA key pair; its private half never leaves the member;
- the source token's security officer marks the member's transport public key CKA_TRUSTED in the
  source (`trust`); the member's security officer marks the source's *signer* public key CKA_TRUSTED in
  the member, and only archives that key signed are restored there;
- `backup` makes a fresh AES-256 *backup key* inside the source (a session object: gone with the
  session), trusted by the source's security officer for that one backup, wraps each key under it inside
  the source (CKM_AES_KEY_WRAP_PAD), and wraps the backup key under each trusted transport key
  (CKM_RSA_PKCS_OAEP); keys made with `fle keys create --backup` carry CKA_WRAP_WITH_TRUSTED, so the
  token refuses to wrap them under anything else;
- the manifest (keys, protections, public-key fingerprints, sequence number, time, the wrapped keys) is
  signed inside the source by the signer key; `restore` verifies it inside the member with the signer key
  its security officer trusted, unwraps inside the member only, proves each key by a round trip with its
  public key, and otherwise destroys whatever it made.

PINs are only passed to C_Login; no message or log line here contains one.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from pkcs11 import DEFAULT, MGF, Attribute, KeyType, Mechanism, ObjectClass, UserType
from pkcs11 import exceptions as p11e

from .errors import KeystoreError
from .pkcs11_library import Module
from .pkcs11_token import TokenSpec, find_token, private_keys

log = logging.getLogger("keystore.hsm")

FORMAT = "fle-hsm-backup/1"
TRANSPORT_LABEL = "fle-hsm-transport"  # in a member: the RSA pair the backup key is wrapped for
SIGNER_LABEL = "fle-hsm-signer"  # in a source: the RSA pair that signs its archives
MEMBER_PREFIX = "fle-hsm-member:"  # in a source: a member's transport public key, trusted by the SO
SOURCE_PREFIX = "fle-hsm-source:"  # in a member: a source's signer public key, trusted by the SO
SEQUENCE_LABEL = "fle-hsm-sequence"  # in a source: the last archive's sequence number
RESTORED_PREFIX = "fle-hsm-restored:"  # in a member: the last restored sequence number per source
TRANSPORT_BITS = 3072
_OAEP = (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None))  # SoftHSM 2.6: SHA-1 only
_PSS = (Mechanism.SHA256_RSA_PKCS_PSS, (Mechanism.SHA256, MGF.SHA256, 32))
# not capabilities: python-pkcs11 would otherwise put ENCRYPT/VERIFY/WRAP into a private key template
_NOT_FOR_PRIVATE = {Attribute.ENCRYPT: DEFAULT, Attribute.VERIFY: DEFAULT, Attribute.WRAP: DEFAULT}


class HsmError(KeystoreError):
    """A backup, restore or trust operation refused or failed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Token:
    """A token `fle hsm` works on, with the PINs read from the variables its keystore entry names."""

    module: str
    label: str
    pin: str = field(repr=False)
    so_pin: str | None = field(default=None, repr=False)

    def need_so_pin(self, why: str) -> str:
        if not self.so_pin:
            raise HsmError(
                f"token {self.label!r}: {why} needs its security officer's PIN: name the variable "
                "holding it as so_pin_env in the keystore entry, and set it"
            )
        return self.so_pin


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A key of the keystore: its (provider id, key name) and where it is in its token."""

    provider_id: str
    key_name: str
    key_label: str | None
    key_id: bytes | None

    @property
    def name(self) -> str:
        return f"{self.provider_id}/{self.key_name}"


@dataclass(frozen=True, slots=True)
class Restored:
    token: str
    key: str
    outcome: str  # "restored", "already present" or "not in archive" (a keystore key the archive lacks)


# -- small helpers ------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def public_of(key: Any) -> RSAPublicKey:
    """The RSA public key of a token object (private or public key: both carry modulus and exponent)."""
    modulus = int.from_bytes(key[Attribute.MODULUS], "big")
    exponent = int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big")
    return RSAPublicNumbers(exponent, modulus).public_key()


def spki(public: RSAPublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public: RSAPublicKey) -> str:
    """SHA-256 of the SubjectPublicKeyInfo DER, hex: names keys in labels and manifests."""
    return hashlib.sha256(spki(public)).hexdigest()


def _public_template(public: RSAPublicKey) -> dict[Attribute, Any]:
    numbers = public.public_numbers()
    return {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.KEY_TYPE: KeyType.RSA,
        Attribute.MODULUS: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
        Attribute.PUBLIC_EXPONENT: numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
    }


def _one(session: Any, attrs: dict[Attribute, Any]) -> Any | None:
    found = list(session.get_objects(attrs))
    if len(found) > 1:
        raise HsmError(f"several objects match {attrs.get(Attribute.LABEL)!r}")
    return found[0] if found else None


def _private_key(session: Any, token: Token, ref: KeyRef) -> Any:
    keys = private_keys(session, ref.key_label, ref.key_id)
    if len(keys) != 1:
        what = "no" if not keys else "more than one"
        raise HsmError(
            f"token {token.label!r} has {what} private key for {ref.name} (label {ref.key_label!r})"
        )
    return keys[0]


class _Open:
    """The library and one token, with user or security-officer logins that end when their block ends."""

    def __init__(self, token: Token) -> None:
        self.token = token
        self.module = Module.get(token.module)  # `fle hsm` is one thread: the caller enters the module
        self.handle = find_token(self.module, TokenSpec(token.label, None, None, None, ""))

    @contextlib.contextmanager
    def user(self) -> Iterator[Any]:
        with self._login(self.token.pin, UserType.USER, "user") as session:
            yield session

    @contextlib.contextmanager
    def so(self, why: str) -> Iterator[Any]:
        with self._login(self.token.need_so_pin(why), UserType.SO, "security officer") as session:
            yield session

    @contextlib.contextmanager
    def _login(self, pin: str, user_type: UserType, who: str) -> Iterator[Any]:
        try:
            session = self.handle.open(user_pin=pin, user_type=user_type, rw=True)
        except (p11e.PinIncorrect, p11e.PinLenRange) as e:
            raise HsmError(f"token {self.token.label!r}: the {who} PIN is incorrect") from e
        except p11e.PinLocked as e:
            raise HsmError(f"token {self.token.label!r}: the {who} PIN is locked") from e
        except (p11e.UserAlreadyLoggedIn, p11e.AnotherUserAlreadyLoggedIn) as e:
            raise HsmError(f"token {self.token.label!r} is logged in already in this process") from e
        try:
            yield session
        finally:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()  # logs out: the next login may be the other role

    def anonymous(self) -> Any:
        """A read/write session without a login: it holds the backup key across the SO and user logins."""
        return self.handle.open(rw=True)


def _ensure_pair(session: Any, label: str, *, sign: bool) -> RSAPublicKey:
    """The RSA pair labelled `label`, generated in the token if missing: private half sensitive, never
    extractable, for signing (the signer) or for unwrapping only (a transport key)."""
    private = _one(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
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
    existing = _one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
    if existing is not None:
        if fingerprint(public_of(existing)) != label.split(":", 1)[1] or not existing[Attribute.TRUSTED]:
            raise HsmError(f"object {label!r} exists but is not the trusted key it should be")
        return False
    session.create_object(
        {
            **_public_template(public),
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


# -- trust ----------------------------------------------------------------------------------------------
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
    src, dst = _Open(source), _Open(member)
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
    dst = _Open(member)
    with dst.module.entered(), dst.user() as session:
        transport = _one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: TRANSPORT_LABEL})
        if transport is None:
            raise HsmError(f"token {member.label!r} has no transport key: it was never a member")
        label = MEMBER_PREFIX + fingerprint(public_of(transport))
    src = _Open(source)
    with src.module.entered(), src.so("removing a member") as session:
        trusted = _one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
        if trusted is None:
            return [f"{source.label} does not make backups for {member.label}"]
        trusted.destroy()
    return [
        f"{source.label}: no longer trusts {member.label}'s transport key {label[len(MEMBER_PREFIX) :][:16]}"
    ]


# -- backup ---------------------------------------------------------------------------------------------
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


def _canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _next_sequence(session: Any) -> int:
    """The source's archive counter, kept in the token (a private data object), incremented."""
    attrs = {Attribute.CLASS: ObjectClass.DATA, Attribute.LABEL: SEQUENCE_LABEL}
    current = _one(session, attrs)
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
    src = _Open(source)
    created = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with src.module.entered():
        with src.user() as session:  # refuse before the security officer is asked for anything
            for ref in refs:
                _refuse_unbackupable(source, ref, _private_key(session, source, ref))
            if (
                _one(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: SIGNER_LABEL})
                is None
            ):
                raise HsmError(f"token {source.label!r} has no member yet: run `fle hsm trust` first")
        holder = src.anonymous()
        try:
            with src.so("making the backup key") as _:
                # a public session object: it survives the SO's logout, and dies with `holder`
                backup_key = holder.generate_key(
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
            with src.user() as session:
                manifest = _backup_manifest(source, refs, session, backup_key, created)
                signer = _one(
                    session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: SIGNER_LABEL}
                )
                if signer is None:
                    raise HsmError(f"token {source.label!r} lost its signer: run `fle hsm trust` again")
                body = _canonical(manifest)
                signature = signer.sign(body, mechanism=_PSS[0], mechanism_param=_PSS[1])
            with contextlib.suppress(p11e.PKCS11Error):
                backup_key.destroy()
        finally:
            with contextlib.suppress(p11e.PKCS11Error):
                holder.close()
    archive = {"format": FORMAT, "manifest": body.decode("utf-8"), "signature": _b64(bytes(signature))}
    log.info("backup %d of token %r: %d key(s)", manifest["sequence"], source.label, len(refs))
    return (json.dumps(archive, indent=1) + "\n").encode("utf-8")


def _backup_manifest(
    source: Token, refs: Sequence[KeyRef], session: Any, backup_key: Any, created: str
) -> dict[str, Any]:
    members = []
    for member in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY}):
        label = member[Attribute.LABEL]
        if not label.startswith(MEMBER_PREFIX) or not member[Attribute.TRUSTED]:
            continue
        transport = public_of(member)
        if fingerprint(transport) != label[len(MEMBER_PREFIX) :]:
            raise HsmError(f"token {source.label!r}: {label!r} does not hold the key its label names")
        wrapped = member.wrap_key(backup_key, mechanism=_OAEP[0], mechanism_param=_OAEP[1])
        members.append({"transport": fingerprint(transport), "backup_key": _b64(bytes(wrapped))})
    if not members:
        raise HsmError(f"token {source.label!r} trusts no member: run `fle hsm trust` first")
    keys = []
    for ref in refs:
        private = _private_key(session, source, ref)
        public = public_of(private)
        wrapped = backup_key.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        keys.append(
            {
                "provider_id": ref.provider_id,
                "key_name": ref.key_name,
                "key_label": private[Attribute.LABEL],
                "key_id": bytes(private[Attribute.ID]).hex(),
                "bits": public.key_size,
                "public_key": _b64(spki(public)),
                "public_key_sha256": fingerprint(public),
                "attributes": {
                    "sensitive": bool(private[Attribute.SENSITIVE]),
                    "extractable": bool(private[Attribute.EXTRACTABLE]),
                    "wrap_with_trusted": bool(private[Attribute.WRAP_WITH_TRUSTED]),
                    "decrypt": bool(private[Attribute.DECRYPT]),
                    "unwrap": bool(private[Attribute.UNWRAP]),
                    "sign": bool(private[Attribute.SIGN]),
                },
                "wrapped": _b64(bytes(wrapped)),
                "wrap_mechanism": "CKM_AES_KEY_WRAP_PAD",
            }
        )
    signer = _one(session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: SIGNER_LABEL})
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


# -- restore --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Archive:
    manifest: dict[str, Any]
    body: bytes
    signature: bytes

    @property
    def sequence(self) -> int:
        return int(self.manifest["sequence"])

    @property
    def signer(self) -> str:
        return str(self.manifest["source"]["signer"])

    def key(self, provider_id: str, key_name: str) -> dict[str, Any] | None:
        for key in self.manifest["keys"]:
            if (key["provider_id"], key["key_name"]) == (provider_id, key_name):
                return dict(key)
        return None


def read_archive(data: bytes) -> Archive:
    """Parse an archive; only its form is checked here, its signature inside each member (restore)."""
    try:
        outer = json.loads(data)
        if outer.get("format") != FORMAT:
            raise ValueError(f"format {outer.get('format')!r}")
        body = outer["manifest"].encode("utf-8")
        manifest = json.loads(body)
        signature = _unb64(outer["signature"])
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("sequence"), int):
            raise ValueError("manifest")
        for key in manifest["keys"]:
            _unb64(key["wrapped"])
            _unb64(key["public_key"])
        for member in manifest["members"]:
            _unb64(member["backup_key"])
        manifest["source"]["signer"]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise HsmError(f"not an fle HSM backup archive, or a damaged one ({type(e).__name__}: {e})") from e
    return Archive(manifest, body, signature)


@dataclass
class _Plan:
    """What restore does in one member token, worked out before anything is made."""

    token: Token
    opened: _Open
    session: Any
    transport: Any  # the member's transport private key
    wrapped_backup_key: bytes
    work: list[tuple[KeyRef, dict[str, Any]]]  # (target, archive key) to restore
    present: list[KeyRef]
    last: int | None
    created: list[Any] = field(default_factory=list)


def _check_member(archive: Archive, plan: _Plan, allow_older: bool) -> None:
    session, name = plan.session, plan.token.label
    trusted = _one(
        session, {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: SOURCE_PREFIX + archive.signer}
    )
    if trusted is None or not trusted[Attribute.TRUSTED] or fingerprint(public_of(trusted)) != archive.signer:
        raise HsmError(
            f"token {name!r} does not trust the archive's source "
            f"({archive.manifest['source']['token_label']!r}, "
            f"signer {archive.signer[:16]}): run `fle hsm trust --keystore SRC.toml --member DST.toml` with "
            "both security officers, then take a new backup"
        )
    try:
        valid = trusted.verify(archive.body, archive.signature, mechanism=_PSS[0], mechanism_param=_PSS[1])
    except (p11e.SignatureInvalid, p11e.SignatureLenRange):
        valid = False
    if not valid:
        raise HsmError(
            "the archive was changed after it was made: its signature does not verify; nothing restored"
        )
    transport = _one(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: TRANSPORT_LABEL})
    if transport is None:
        raise HsmError(f"token {name!r} has no transport key: run `fle hsm trust` for it first")
    mine = fingerprint(public_of(transport))
    for member in archive.manifest["members"]:
        if member["transport"] == mine:
            plan.transport, plan.wrapped_backup_key = transport, _unb64(member["backup_key"])
            break
    else:
        raise HsmError(
            f"the archive was not made for token {name!r}: the source did not trust its transport key when "
            "the backup was taken. Run `fle hsm trust`, then take a new backup"
        )
    last = _one(
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
    try:
        backup_key = plan.transport.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.AES,
            plan.wrapped_backup_key,
            mechanism=_OAEP[0],
            mechanism_param=_OAEP[1],
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
        raise HsmError(f"token {plan.token.label!r} cannot unwrap the backup key ({type(e).__name__})") from e
    plan.created.append(backup_key)
    for ref, key in plan.work:
        flags = key["attributes"]
        label = ref.key_label or key["key_label"]
        key_id = ref.key_id if ref.key_id is not None else bytes.fromhex(key["key_id"])
        try:
            private = backup_key.unwrap_key(
                ObjectClass.PRIVATE_KEY,
                KeyType.RSA,
                _unb64(key["wrapped"]),
                mechanism=Mechanism.AES_KEY_WRAP_PAD,
                store=True,
                label=label,
                id=key_id,
                template={
                    **_NOT_FOR_PRIVATE,
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
            raise HsmError(f"token {plan.token.label!r} cannot unwrap {ref.name} ({type(e).__name__})") from e
        plan.created.append(private)
        public = serialization.load_der_public_key(_unb64(key["public_key"]))
        assert isinstance(public, RSAPublicKey)
        if (
            fingerprint(public) != key["public_key_sha256"]
            or fingerprint(public_of(private)) != key["public_key_sha256"]
        ):
            raise HsmError(f"{ref.name}: the unwrapped key is not the one the manifest names")
        plan.created.append(
            session.create_object(
                {
                    **_public_template(public),
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


def prove(private: Any, public: RSAPublicKey, what: str) -> None:
    """A random data key wrapped on the host with `public`, unwrapped in the token by `private`."""
    data_key = secrets.token_bytes(32)
    wrapped = public.encrypt(data_key, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    try:
        # python-pkcs11 gives an object without CKA_DECRYPT no decrypt method: AttributeError
        unwrapped = bytes(private.decrypt(wrapped, mechanism=_OAEP[0], mechanism_param=_OAEP[1]))
    except (p11e.PKCS11Error, AttributeError) as e:
        raise HsmError(f"{what}: the round trip with its public key failed ({type(e).__name__})") from e
    if not secrets.compare_digest(unwrapped, data_key):
        raise HsmError(f"{what}: the round trip with its public key gave a different data key")


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
            opened = _Open(token)
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
                current = _one(plan.session, attrs)
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
