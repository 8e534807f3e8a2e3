"""`backend = "pkcs11"`: the private key lives in an HSM token; unwrapping happens inside it.

    module = "/usr/lib/softhsm/libsofthsm2.so"
    token_label = "fle"            # or a list: a cluster of tokens holding the same key; or slot = 0
    key_label = "DemoPublicKey"    # and/or key_id = "hex"
    pin_env = "FLE_PKCS11_PIN"
    sessions = 4                   # per token

These arrive checked, as keystore/settings.py's Pkcs11Settings; the PIN is read by the keystore when it
opens the backend. Below this module: pkcs11_pool.py (sessions to one token), pkcs11_token.py (finding a
token and its key), pkcs11_library.py (loading and re-initialising the library).

Per token and wrapping, the first unwrap probes what the token can do: OAEP (or PKCS#1 v1.5) inside the
token, or else the raw RSA operation (CKM_RSA_X_509) inside the token and the padding removed on the host
in constant time (keystore/oaep.py). Either way no private key object ever exists in this process.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from pkcs11 import MGF, Attribute, Mechanism
from pkcs11 import exceptions as p11e

from . import oaep
from .base import KeyBackend
from .errors import BackendUnavailable, KeystoreConfigError, UnwrapError
from .pkcs11_library import Module
from .pkcs11_pool import TokenPool
from .pkcs11_token import OperationFailed, TokenSpec, TokenUnavailable
from .settings import Pkcs11Settings
from .wrapping import Wrapping

log = logging.getLogger("keystore")

_RETRY_AFTER = (0.5, 30.0)  # seconds: first and longest wait before trying a failed token again

_IN_TOKEN = {
    Wrapping.RSA_OAEP_SHA256_MGF1: (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA256, MGF.SHA256, None)),
    Wrapping.RSA_OAEP_SHA1_MGF1: (Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None)),
    Wrapping.RSA_PKCS1: (Mechanism.RSA_PKCS, None),
}
# What a token answers when it does not do a mechanism (or these parameters of it).
_UNSUPPORTED = (
    p11e.MechanismInvalid,
    p11e.MechanismParamInvalid,
    p11e.ArgumentsBad,
    p11e.FunctionNotSupported,
)
# What a token answers to a ciphertext that does not decrypt.
_BAD_DATA = (
    p11e.EncryptedDataInvalid,
    p11e.EncryptedDataLenRange,
    p11e.DataInvalid,
    p11e.DataLenRange,
    p11e.FunctionFailed,
)


class Mode(Enum):
    """Where the padding is removed."""

    IN_TOKEN = "in-token"
    RAW_HOST_DECODE = "raw+host-decode"


@dataclass(frozen=True, slots=True)
class TokenHealth:
    """One token of the cluster, as last seen."""

    name: str
    healthy: bool
    last_error: str | None
    reconnects: int
    unwraps: int
    modes: Mapping[str, str]


class _Member:
    """A token of the cluster with its pool, its probed modes and its health."""

    def __init__(self, spec: TokenSpec) -> None:
        self.spec = spec
        self.pool: TokenPool | None = None
        self.modes: dict[Wrapping, Mode] = {}
        self.down_until = 0.0
        self.backoff = _RETRY_AFTER[0]
        self.last_error: str | None = None
        self.unwraps = 0
        self.lock = threading.Lock()
        self.probe_lock = threading.Lock()

    def failed(self, error: Exception, now: float) -> None:
        with self.lock:
            self.last_error = str(error)
            self.down_until = now + self.backoff
            self.backoff = min(self.backoff * 2, _RETRY_AFTER[1])

    def succeeded(self) -> None:
        self.unwraps += 1  # a statistic: an occasional lost increment under threads does not matter
        if self.down_until or self.last_error:
            with self.lock:
                self.down_until = 0.0
                self.backoff = _RETRY_AFTER[0]
                self.last_error = None


def token_specs(settings: Pkcs11Settings, pin: str) -> list[TokenSpec]:
    """One TokenSpec per token the settings name: each label of a cluster, or the one slot."""
    if settings.slot is not None:
        return [TokenSpec(None, settings.slot, settings.key_label, settings.key_id, pin)]
    key_label, key_id = settings.key_label, settings.key_id
    return [TokenSpec(label, None, key_label, key_id, pin) for label in settings.token_labels]


def _public_key_of(key: Any) -> RSAPublicKey:
    modulus = int.from_bytes(key[Attribute.MODULUS], "big")
    exponent = int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big")
    return RSAPublicNumbers(exponent, modulus).public_key()


class Pkcs11Backend(KeyBackend):
    """One key in one token, or the same key in several tokens used as a cluster; thread-safe."""

    def __init__(self, settings: Pkcs11Settings, pin: str, probe: Wrapping | None = None) -> None:
        specs = token_specs(settings, pin)
        if not specs:
            raise KeystoreConfigError("pkcs11: no token given")
        self.module = Module.get(settings.module)
        self._members = [_Member(spec) for spec in specs]
        self._sessions = settings.sessions
        self._next = 0
        self._lock = threading.Lock()
        self._public: RSAPublicKey | None = None
        errors = []
        for member in self._members:
            try:
                self._start(member)
            except TokenUnavailable as e:  # a cluster starts with the tokens that answer
                member.failed(e, time.monotonic())
                errors.append(str(e))
        if all(m.pool is None for m in self._members):
            raise BackendUnavailable("; ".join(errors))
        if probe is not None:
            for member in self._members:
                if member.pool is not None:
                    self._mode(member, probe)

    def _start(self, member: _Member) -> None:
        pool = TokenPool(self.module, member.spec, self._sessions)
        public = pool.call(_public_key_of)
        with self._lock:
            if self._public is None:
                self._public = public
            elif self._public.public_numbers() != public.public_numbers():
                pool.close()
                raise KeystoreConfigError(
                    f"PKCS#11 {member.spec.name} holds a different key than the other tokens of the cluster"
                )
        member.pool = pool

    # -- mechanism probing ----------------------------------------------------------------------------
    def _mode(self, member: _Member, wrapping: Wrapping) -> Mode:
        mode = member.modes.get(wrapping)
        if mode is None:
            with member.probe_lock:  # once per token and wrapping, however many threads arrive
                mode = member.modes.get(wrapping)
                if mode is None:
                    mode = member.modes[wrapping] = self._probe(member, wrapping)
                    log.info("pkcs11 %s: %s unwraps %s", member.spec.name, wrapping.value, mode.value)
        return mode

    def _probe(self, member: _Member, wrapping: Wrapping) -> Mode:
        """Decrypt a random value in the token with the mechanism for `wrapping`; fall back to raw RSA."""
        assert member.pool is not None and self._public is not None
        secret = secrets.token_bytes(32)
        ciphertext = self._public.encrypt(secret, wrapping.padding())
        mechanism, param = _IN_TOKEN[wrapping]
        try:
            if (
                member.pool.call(
                    lambda key: key.decrypt(ciphertext, mechanism=mechanism, mechanism_param=param)
                )
                == secret
            ):
                return Mode.IN_TOKEN
            log.warning("pkcs11 %s: %s in the token gave a wrong result", member.spec.name, wrapping.value)
        except (*_UNSUPPORTED, *_BAD_DATA, OperationFailed):
            pass
        try:
            raw = member.pool.call(lambda key: key.decrypt(ciphertext, mechanism=Mechanism.RSA_X_509))
            if oaep.decode(raw, self._modulus_bytes, wrapping) == secret:
                return Mode.RAW_HOST_DECODE
        except (*_UNSUPPORTED, *_BAD_DATA, OperationFailed, UnwrapError) as e:
            raise KeystoreConfigError(
                f"PKCS#11 {member.spec.name} can neither unwrap {wrapping.value} "
                "nor do raw RSA (CKM_RSA_X_509)"
            ) from e
        raise KeystoreConfigError(f"PKCS#11 {member.spec.name}: raw RSA gave a wrong result")

    @property
    def _modulus(self) -> int:
        assert self._public is not None
        return self._public.public_numbers().n

    @property
    def _modulus_bytes(self) -> int:
        assert self._public is not None
        return (self._public.key_size + 7) // 8

    # -- the interface ----------------------------------------------------------------------------------
    def _order(self) -> list[_Member]:
        """Healthy members first, round-robin among them; members due for a retry after them."""
        now = time.monotonic()
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self._members)
        rotated = self._members[start:] + self._members[:start]
        up = [m for m in rotated if m.down_until <= now]
        return up or sorted(rotated, key=lambda m: m.down_until)[:1]

    def unwrap(self, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        errors = []
        for member in self._order():
            try:
                if member.pool is None:
                    self._start(member)
                return self._unwrap_on(member, encrypted_key, wrapping)
            except (TokenUnavailable, KeystoreConfigError) as e:  # e.g. a late token without the key
                log.warning("pkcs11 %s unavailable, failing over: %s", member.spec.name, e)
                member.failed(e, time.monotonic())
                errors.append(str(e))
        raise BackendUnavailable("no PKCS#11 token answered: " + "; ".join(errors))

    def _unwrap_on(self, member: _Member, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        assert member.pool is not None
        mode = self._mode(member, wrapping)
        # Public checks, done here so a malformed ciphertext never looks like a failing token
        # (SoftHSM answers CKR_GENERAL_ERROR to a value above the modulus).
        if len(encrypted_key) != self._modulus_bytes or int.from_bytes(encrypted_key, "big") >= self._modulus:
            raise UnwrapError("the data key could not be unwrapped")
        try:
            if mode is Mode.IN_TOKEN:
                mechanism, param = _IN_TOKEN[wrapping]
                result = member.pool.call(
                    lambda key: key.decrypt(encrypted_key, mechanism=mechanism, mechanism_param=param)
                )
            else:
                raw = member.pool.call(lambda key: key.decrypt(encrypted_key, mechanism=Mechanism.RSA_X_509))
                result = oaep.decode(raw, self._modulus_bytes, wrapping)
        except (*_BAD_DATA, OperationFailed) as e:
            raise UnwrapError("the data key could not be unwrapped") from e
        except p11e.PKCS11Error as e:  # anything else the token says: opaque to the caller, logged here
            log.warning("pkcs11 %s: unwrap failed: %s", member.spec.name, type(e).__name__)
            raise UnwrapError("the data key could not be unwrapped") from e
        member.succeeded()
        return bytes(result)

    def public_key(self) -> RSAPublicKey:
        assert self._public is not None
        return self._public

    def health(self) -> list[TokenHealth]:
        """Each token of the cluster: healthy now or not, and why."""
        now = time.monotonic()
        return [
            TokenHealth(
                m.spec.name,
                m.pool is not None and m.down_until <= now,
                m.last_error,
                m.pool.reconnects if m.pool else 0,
                m.unwraps,
                {w.value: mode.value for w, mode in m.modes.items()},
            )
            for m in self._members
        ]

    def close(self) -> None:
        for member in self._members:
            if member.pool is not None:
                member.pool.close()
                member.pool = None
