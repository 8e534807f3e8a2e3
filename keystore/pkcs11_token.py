"""One token and its key: which (TokenSpec), finding them, logging in, and what a token's errors mean.

Tokens are looked up slot by slot, not with python-pkcs11's `lib.get_token()`: that gives up on the first
slot whose token fails to answer, and in a cluster that must not hide the tokens that do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e

from .errors import BackendUnavailable, KeystoreConfigError
from .pkcs11_library import Module

# Errors meaning "this session / key handle / token is gone", not "this ciphertext is bad".
LOST = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.ObjectHandleInvalid,
    p11e.DeviceRemoved,
    p11e.DeviceError,
    p11e.DeviceMemory,
    p11e.TokenNotPresent,
    p11e.TokenNotRecognised,
    p11e.UserNotLoggedIn,
    p11e.GeneralError,
    p11e.SlotIDInvalid,
)

# Of those, what some tokens also answer to bad input (SoftHSM: CKR_GENERAL_ERROR for bad OAEP padding);
# the pool then asks the token something harmless (`alive`) to tell the two apart.
AMBIGUOUS = (p11e.GeneralError, p11e.DeviceError)


class TokenUnavailable(BackendUnavailable):
    """This token (or the session to it) cannot be used right now."""


class OperationFailed(Exception):
    """The token is fine but refused this operation (bad input); not a reason to reconnect or fail over."""


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """Which token and key: by label or slot id, by key label and/or CKA_ID (hex)."""

    token_label: str | None
    slot: int | None
    key_label: str | None
    key_id: bytes | None
    pin: str

    @property
    def name(self) -> str:
        return f"token {self.token_label!r}" if self.token_label is not None else f"slot {self.slot}"


def find_token(module: Module, spec: TokenSpec) -> Any:
    """The token `spec` names; TokenUnavailable if it is not there (now)."""
    lib = module.lib
    if spec.slot is not None:
        for slot in lib.get_slots(token_present=True):
            if slot.slot_id == spec.slot:
                return slot.get_token()
        raise TokenUnavailable(f"PKCS#11 {spec.name}: no token present in that slot")
    found = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except p11e.PKCS11Error:
            continue
        if token.label == spec.token_label:
            found.append(token)
    if not found:
        raise TokenUnavailable(f"PKCS#11 {spec.name}: no such token in {module.path}")
    if len(found) > 1:
        raise KeystoreConfigError(f"PKCS#11 {spec.name}: several tokens have this label")
    return found[0]


def log_in(token: Any, spec: TokenSpec) -> Any:
    """The session that holds the login (PKCS#11 logs in per application and token, not per session)."""
    try:
        return token.open(user_pin=spec.pin)
    except p11e.UserAlreadyLoggedIn:
        return token.open()  # another pool in this process logged in to this token already
    except p11e.PinIncorrect as e:
        raise KeystoreConfigError(f"PKCS#11 {spec.name}: the PIN is incorrect") from e
    except p11e.PinLocked as e:
        raise KeystoreConfigError(f"PKCS#11 {spec.name}: the PIN is locked") from e
    except p11e.UserPinNotInitialized as e:
        # also what SoftHSM answers while another process rewrites the token's file (every login does):
        # unavailable, so the pool looks again, rather than a configuration error
        raise TokenUnavailable(f"PKCS#11 {spec.name}: the token's user PIN is not initialised") from e


def private_keys(session: Any, key_label: str | None, key_id: bytes | None) -> list[Any]:
    """The private keys `session` sees with this label and id (either None: any); the proxy's key pool and
    `fle hsm` name a key the same way, and each says in its own words when there is not exactly one."""
    attrs: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if key_label is not None:
        attrs[Attribute.LABEL] = key_label
    if key_id is not None:
        attrs[Attribute.ID] = key_id
    return list(session.get_objects(attrs))


def find_key(session: Any, spec: TokenSpec) -> Any:
    """The one private key `spec` names, as seen by `session`; KeystoreConfigError if not exactly one."""
    keys = private_keys(session, spec.key_label, spec.key_id)
    if len(keys) != 1:
        what = "no" if not keys else "more than one"
        raise KeystoreConfigError(
            f"PKCS#11 {spec.name}: {what} private key with label {spec.key_label!r}"
            + (f" id {spec.key_id.hex()}" if spec.key_id is not None else "")
        )
    return keys[0]


def alive(key: Any) -> bool:
    """Whether the token still answers about `key`: after an AMBIGUOUS error, bad input if it does."""
    try:
        key[Attribute.KEY_TYPE]
    except p11e.PKCS11Error:
        return False
    return True
