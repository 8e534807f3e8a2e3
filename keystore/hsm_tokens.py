"""The tokens `fle hsm` works on: their PINs, logins, the objects it keeps in them and how it finds them.

Object labels (docs/hsm-backup.md lists them), public keys and their fingerprints, the one-object lookups,
and the user and security-officer logins every operation (hsm_trust, hsm_backup, hsm_restore) goes
through. PINs are only passed to C_Login; no message or log line here contains one.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from pkcs11 import Attribute, KeyType, ObjectClass, UserType
from pkcs11 import exceptions as p11e

from .errors import KeystoreError
from .pkcs11_library import Module
from .pkcs11_token import TokenSpec, find_token, private_keys

TRANSPORT_LABEL = "fle-hsm-transport"  # in a member: the RSA pair the backup key is wrapped for
SIGNER_LABEL = "fle-hsm-signer"  # in a source: the RSA pair that signs its archives
MEMBER_PREFIX = "fle-hsm-member:"  # in a source: a member's transport public key, trusted by the SO
SOURCE_PREFIX = "fle-hsm-source:"  # in a member: a source's signer public key, trusted by the SO
SEQUENCE_LABEL = "fle-hsm-sequence"  # in a source: the last archive's sequence number
RESTORED_PREFIX = "fle-hsm-restored:"  # in a member: the last restored sequence number per source
TRANSPORT_BITS = 3072


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


# -- public keys -------------------------------------------------------------------------------------
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


def public_template(public: RSAPublicKey) -> dict[Attribute, Any]:
    numbers = public.public_numbers()
    return {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.KEY_TYPE: KeyType.RSA,
        Attribute.MODULUS: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
        Attribute.PUBLIC_EXPONENT: numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
    }


# -- objects and logins ------------------------------------------------------------------------------
def find_one(session: Any, attrs: dict[Attribute, Any]) -> Any | None:
    found = list(session.get_objects(attrs))
    if len(found) > 1:
        raise HsmError(f"several objects match {attrs.get(Attribute.LABEL)!r}")
    return found[0] if found else None


def find_private_key(session: Any, token: Token, ref: KeyRef) -> Any:
    keys = private_keys(session, ref.key_label, ref.key_id)
    if len(keys) != 1:
        what = "no" if not keys else "more than one"
        raise HsmError(
            f"token {token.label!r} has {what} private key for {ref.name} (label {ref.key_label!r})"
        )
    return keys[0]


class OpenToken:
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
