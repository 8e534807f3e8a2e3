"""`backend = "pkcs11"`: per-index generic-secret keys inside a token, HMAC-SHA384 computed by the token.

Each index has its own key, generated inside the token (`fle index keys create --backend pkcs11`):
CKK_GENERIC_SECRET, 64 bytes, CKA_SENSITIVE and never CKA_EXTRACTABLE, labelled `key_label:index_name`.
The token computes CKM_SHA384_HMAC; the host keeps the first 8 bytes and truncates them (basicHash), so
the beacon is the specification's standard beacon with the in-token key as the index's HMAC key. No root
key exists here to derive from (PKCS#11 2.40 tokens such as SoftHSM 2.6 have no HKDF), so these beacons
are not those of a file root key, and the key can never be copied out to compute them elsewhere.

Threads: one session per entry, and every call into a module under one lock per module path, since
python-pkcs11 initialises the library without OS locking (a library may then not be entered by two
threads at once). A session lost (token re-initialised, removed and back) is reopened once per call.
Open it in the process that uses it (after any fork): sessions do not survive fork().
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11e

from .beacon import INDEX_KEY_BYTES
from .errors import IndexKeyMissing, TokenError, TokenLoginFailed, TokenNotFound
from .settings import Pkcs11KeySettings, token_key_label

_LOST = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.ObjectHandleInvalid,
    p11e.DeviceRemoved,
    p11e.TokenNotPresent,
    p11e.UserNotLoggedIn,
)


def load_module(path: str) -> Any:
    """The loaded PKCS#11 library (python-pkcs11 keeps one per path); TokenNotFound if it does not load."""
    try:
        return pkcs11.lib(path)
    except (p11e.PKCS11Error, OSError, RuntimeError) as e:
        raise TokenNotFound(f"cannot load PKCS#11 module {path!r}: {e}") from e


def open_session(settings: Pkcs11KeySettings, pin: str, *, rw: bool = False) -> Any:
    """A logged-in session to the entry's token; TokenNotFound / TokenLoginFailed with what to do."""
    lib = load_module(settings.module)
    try:
        token = lib.get_token(token_label=settings.token_label)
    except p11e.NoSuchToken as e:
        raise TokenNotFound(f"no PKCS#11 token labelled {settings.token_label!r} in {settings.module}") from e
    except p11e.MultipleTokensReturned as e:
        raise TokenNotFound(f"several PKCS#11 tokens are labelled {settings.token_label!r}") from e
    except p11e.PKCS11Error as e:
        raise TokenNotFound(f"PKCS#11 token {settings.token_label!r}: {type(e).__name__}") from e
    try:
        return token.open(user_pin=pin, rw=rw)
    except p11e.UserAlreadyLoggedIn:
        return token.open(rw=rw)  # PKCS#11 logs in per application and token: another session did
    except p11e.PinIncorrect as e:
        raise TokenLoginFailed(f"PKCS#11 token {settings.token_label!r}: the PIN is incorrect") from e
    except p11e.PinLocked as e:
        raise TokenLoginFailed(f"PKCS#11 token {settings.token_label!r}: the PIN is locked") from e
    except p11e.PKCS11Error as e:
        raise TokenError(f"PKCS#11 token {settings.token_label!r}: cannot log in ({type(e).__name__})") from e


def read_pin(settings: Pkcs11KeySettings) -> str:
    """The user PIN from the entry's pin_env; TokenLoginFailed when the variable is not set."""
    pin = os.environ.get(settings.pin_env)
    if not pin:
        raise TokenLoginFailed(
            f"environment variable {settings.pin_env} (the PIN of token {settings.token_label!r}) is not set"
        )
    return pin


def secret_keys(session: Any, label: str) -> list[Any]:
    """The secret keys `session` sees with this label."""
    return list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}))


def generate_index_keys(settings: Pkcs11KeySettings, pin: str, index_names: list[str]) -> list[str]:
    """Generate one secret key per index inside the token; their labels. Refuses (IndexKeyMissing's sibling
    TokenError) before generating anything when a label is taken already."""
    labels = [token_key_label(settings.key_label, name) for name in index_names]
    with load_lock(settings.module), open_session(settings, pin, rw=True) as session:
        taken = [label for label in labels if secret_keys(session, label)]
        if taken:
            raise TokenError(
                f"PKCS#11 token {settings.token_label!r} already holds key(s) labelled {', '.join(taken)}"
            )
        for label in labels:
            try:
                session.generate_key(
                    KeyType.GENERIC_SECRET,
                    INDEX_KEY_BYTES * 8,
                    label=label,
                    id=label.encode("utf-8"),
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                        Attribute.VERIFY: True,
                        Attribute.ENCRYPT: False,
                        Attribute.DECRYPT: False,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                        Attribute.DERIVE: False,
                    },
                )
            except p11e.PKCS11Error as e:
                raise TokenError(
                    f"PKCS#11 token {settings.token_label!r}: cannot generate {label} ({type(e).__name__})"
                ) from e
    return labels


_MODULE_LOCKS: dict[str, threading.Lock] = {}
_MODULE_LOCKS_GUARD = threading.Lock()


def load_lock(module: str) -> threading.Lock:
    """The one lock every call into `module` from this package holds."""
    with _MODULE_LOCKS_GUARD:
        return _MODULE_LOCKS.setdefault(module, threading.Lock())


class Pkcs11IndexKey:
    """The token of one [[index_key]] entry: a session, opened on first use, and the keys found in it."""

    def __init__(self, settings: Pkcs11KeySettings) -> None:
        self.settings = settings
        self._lock = load_lock(settings.module)
        self._session: Any = None
        self._keys: dict[str, Any] = {}

    def _open(self) -> None:
        self._session = open_session(self.settings, read_pin(self.settings))
        self._keys = {}

    def _key(self, index_name: str) -> Any:
        key = self._keys.get(index_name)
        if key is None:
            label = token_key_label(self.settings.key_label, index_name)
            found = secret_keys(self._session, label)
            if len(found) != 1:
                what = "no" if not found else "more than one"
                raise IndexKeyMissing(
                    f"PKCS#11 token {self.settings.token_label!r} holds {what} secret key labelled {label!r} "
                    f"(fle index keys create --backend pkcs11 ... --index {index_name})"
                )
            key = self._keys[index_name] = found[0]
        return key

    def mac(self, index_name: str, data: bytes) -> bytes:
        """HMAC-SHA384 of `data` under the index's key, computed inside the token."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._session is None:
                        self._open()
                    return bytes(self._key(index_name).sign(data, mechanism=Mechanism.SHA384_HMAC))
                except _LOST as e:
                    self._drop()
                    if attempt == 2:
                        raise TokenError(
                            f"PKCS#11 token {self.settings.token_label!r}: session lost ({type(e).__name__})"
                        ) from e
                except p11e.PKCS11Error as e:
                    raise TokenError(
                        f"PKCS#11 token {self.settings.token_label!r}: HMAC refused ({type(e).__name__})"
                    ) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def prepare(self, index_name: str) -> None:
        """Open the session and find the index's key now, so a missing one fails at start, not per request."""
        with self._lock:
            if self._session is None:
                self._open()
            self._key(index_name)

    def _drop(self) -> None:
        session, self._session, self._keys = self._session, None, {}
        if session is not None:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()

    def close(self) -> None:
        with self._lock:
            self._drop()
