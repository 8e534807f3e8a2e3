"""PKCS#11 sessions for one token: a pool safe across threads, one login, recovery after loss.

python-pkcs11 sessions must not be used by two threads at once, so each call borrows a whole session.
PKCS#11 logs in per application and token, not per session: the pool keeps one logged-in session open
for its lifetime (closing it would log every session out) and opens the working sessions without a PIN.

When a call fails in a way that means the session, the key handle or the token went away, the pool
drops everything it holds for the token, finds the token and the key again (re-initialising the library
if the token cannot be found, as SoftHSM needs after its token directory comes back) and retries once.
If that fails too the caller gets TokenUnavailable, which the cluster layer uses to fail over.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pkcs11
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e

from .errors import BackendUnavailable, KeystoreConfigError

T = TypeVar("T")

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
# the pool then asks the token something harmless to tell the two apart.
_AMBIGUOUS = (p11e.GeneralError, p11e.DeviceError)


class TokenUnavailable(BackendUnavailable):
    """This token (or the session to it) cannot be used right now."""


class OperationFailed(Exception):
    """The token is fine but refused this operation (bad input); not a reason to reconnect or fail over."""


def _alive(held: _Session) -> bool:
    try:
        held.key[Attribute.KEY_TYPE]
    except p11e.PKCS11Error:
        return False
    return True


class _RWLock:
    """Many calls at once, or one library re-initialisation alone (C_Finalize under live calls is UB)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


CKF_OS_LOCKING_OK = 0x2


class _InitArgs(ctypes.Structure):
    """CK_C_INITIALIZE_ARGS."""

    _fields_: ClassVar = [
        ("create_mutex", ctypes.c_void_p),
        ("destroy_mutex", ctypes.c_void_p),
        ("lock_mutex", ctypes.c_void_p),
        ("unlock_mutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("reserved", ctypes.c_void_p),
    ]


def _initialize_for_threads(path: str) -> bool:
    """Re-initialise the library with CKF_OS_LOCKING_OK; False if it cannot do that.

    python-pkcs11 calls C_Initialize(NULL), which per PKCS#11 promises the library that no two threads
    call it at once; SoftHSM then takes no locks and crashes under concurrent sessions. The same loaded
    library (dlopen returns the same handle) is finalised and initialised again, here, with OS locking.
    """
    try:
        so = ctypes.CDLL(path)
        so.C_Finalize.argtypes = [ctypes.c_void_p]
        so.C_Initialize.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return False
    so.C_Finalize(None)
    if so.C_Initialize(ctypes.byref(_InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None))) == 0:
        return True
    so.C_Initialize(None)  # back to what python-pkcs11 set up; calls are then serialised by Module
    return False


class Module:
    """One loaded PKCS#11 library, shared by every token pool that uses it."""

    _loaded: ClassVar[dict[str, Module]] = {}
    _loaded_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        try:
            self.lib = pkcs11.lib(path)
        except (p11e.PKCS11Error, OSError, RuntimeError) as e:
            raise BackendUnavailable(f"cannot load PKCS#11 library {path!r}: {e}") from e
        self.path = path
        self.lock = _RWLock()
        self.generation = 0
        self.threaded = _initialize_for_threads(path)
        # Without OS locking the library may not be entered by two threads at once.
        self.serial: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if self.threaded else threading.Lock()
        )

    @classmethod
    def get(cls, path: str) -> Module:
        with cls._loaded_lock:
            if path not in cls._loaded:
                cls._loaded[path] = cls(path)
            return cls._loaded[path]

    def reinitialize(self, seen_generation: int) -> None:
        """C_Finalize + C_Initialize, once per generation however many pools ask at the same time."""
        with self.lock.exclusive():
            if self.generation != seen_generation:
                return
            self.generation += 1
            if not _initialize_for_threads(self.path):
                with contextlib.suppress(p11e.PKCS11Error):
                    self.lib.reinitialize()


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


class _Session:
    __slots__ = ("generation", "key", "session")

    def __init__(self, session: Any, key: Any, generation: int) -> None:
        self.session = session
        self.key = key
        self.generation = generation


class TokenPool:
    """Up to `size` sessions to one token, each with a handle to the private key; thread-safe."""

    def __init__(self, module: Module, spec: TokenSpec, size: int, acquire_timeout: float = 30.0) -> None:
        self.module = module
        self.spec = spec
        self.size = size
        self.acquire_timeout = acquire_timeout
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Session] = []
        self._token: Any = None
        self._login: Any = None
        self._generation = 0  # bumped whenever the pool reconnects
        self.reconnects = 0
        seen = self.module.generation
        try:
            with self.module.lock.shared(), self.module.serial:
                self._connect()
            return
        except (TokenUnavailable, *LOST):
            pass
        self.module.reinitialize(seen)  # a token that appeared since the library was loaded
        try:
            with self.module.lock.shared(), self.module.serial:
                self._connect()
        except LOST as e:
            raise TokenUnavailable(f"PKCS#11 {self.spec.name}: {type(e).__name__} {e}") from e

    # -- connecting ---------------------------------------------------------------------------------
    def _find_token(self) -> Any:
        lib = self.module.lib
        if self.spec.slot is not None:
            for slot in lib.get_slots(token_present=True):
                if slot.slot_id == self.spec.slot:
                    return slot.get_token()
            raise TokenUnavailable(f"PKCS#11 {self.spec.name}: no token present in that slot")
        # Not lib.get_token(): it gives up on the first slot whose token fails to answer, and in a
        # cluster that must not hide the tokens that do.
        found = []
        for slot in lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except p11e.PKCS11Error:
                continue
            if token.label == self.spec.token_label:
                found.append(token)
        if not found:
            raise TokenUnavailable(f"PKCS#11 {self.spec.name}: no such token in {self.module.path}")
        if len(found) > 1:
            raise KeystoreConfigError(f"PKCS#11 {self.spec.name}: several tokens have this label")
        return found[0]

    def _connect(self) -> None:
        """(Re)open the login session; caller holds the module lock shared."""
        token = self._find_token()
        try:
            login = token.open(user_pin=self.spec.pin)
        except p11e.UserAlreadyLoggedIn:
            login = token.open()  # another pool in this process logged in to this token already
        except p11e.PinIncorrect as e:
            raise KeystoreConfigError(f"PKCS#11 {self.spec.name}: the PIN is incorrect") from e
        except p11e.PinLocked as e:
            raise KeystoreConfigError(f"PKCS#11 {self.spec.name}: the PIN is locked") from e
        self._token, self._login = token, login
        self._find_key(login)  # fail now, not on first use, if the key is not there

    def _find_key(self, session: Any) -> Any:
        attrs: dict[Attribute, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        if self.spec.key_label is not None:
            attrs[Attribute.LABEL] = self.spec.key_label
        if self.spec.key_id is not None:
            attrs[Attribute.ID] = self.spec.key_id
        keys = list(session.get_objects(attrs))
        if len(keys) != 1:
            what = "no" if not keys else "more than one"
            raise KeystoreConfigError(
                f"PKCS#11 {self.spec.name}: {what} private key with label {self.spec.key_label!r}"
                + (f" id {self.spec.key_id.hex()}" if self.spec.key_id is not None else "")
            )
        return keys[0]

    def _open(self) -> _Session:
        session = self._token.open()
        try:
            return _Session(session, self._find_key(session), self._generation)
        except BaseException:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()
            raise

    def _reconnect(self, failed_generation: int) -> None:
        """Drop every session and find the token again; once per failure however many threads saw it."""
        with self._lock:
            if self._generation != failed_generation:
                return  # another thread already reconnected
            self._generation += 1
            self.reconnects += 1
            stale, self._idle = self._idle, []
            login, self._login = self._login, None
        with self.module.lock.shared(), self.module.serial:
            for held in stale:
                with contextlib.suppress(p11e.PKCS11Error):
                    held.session.close()
            if login is not None:
                with contextlib.suppress(p11e.PKCS11Error):
                    login.close()
        seen = self.module.generation
        try:
            with self.module.lock.shared(), self.module.serial:
                self._connect()
            return
        except (TokenUnavailable, KeystoreConfigError, *LOST):
            pass
        # SoftHSM (and some USB tokens) only rediscover a token after C_Finalize/C_Initialize.
        self.module.reinitialize(seen)
        try:
            with self.module.lock.shared(), self.module.serial:
                self._connect()
        except (KeystoreConfigError, *LOST) as e:
            raise TokenUnavailable(f"PKCS#11 {self.spec.name}: {type(e).__name__} {e}") from e

    # -- using ----------------------------------------------------------------------------------------
    def _borrow(self) -> _Session:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._login is None:
                raise TokenUnavailable(f"PKCS#11 {self.spec.name} is not connected")
        return self._open()

    def _give_back(self, held: _Session) -> None:
        with self._lock:
            if held.generation == self._generation and self._login is not None:
                self._idle.append(held)
                return
        with contextlib.suppress(p11e.PKCS11Error):
            held.session.close()

    def call(self, operation: Callable[[Any], T]) -> T:
        """`operation(private_key_object)` on a borrowed session; TokenUnavailable if the token is gone."""
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise TokenUnavailable(
                f"PKCS#11 {self.spec.name}: no free session within {self.acquire_timeout}s"
            )
        try:
            for attempt in (1, 2):
                generation = self._generation
                try:
                    with self.module.lock.shared(), self.module.serial:
                        held = self._borrow()
                        try:
                            result = operation(held.key)
                        except LOST as e:
                            if isinstance(e, _AMBIGUOUS) and _alive(held):
                                self._give_back(held)
                                raise OperationFailed(f"{type(e).__name__}") from e
                            with contextlib.suppress(p11e.PKCS11Error):
                                held.session.close()
                            raise
                        except BaseException:  # bad input or a Python error: the session is fine
                            self._give_back(held)
                            raise
                        self._give_back(held)
                    return result
                except (TokenUnavailable, KeystoreConfigError, *LOST) as e:
                    if attempt == 2:
                        raise TokenUnavailable(f"PKCS#11 {self.spec.name}: {type(e).__name__} {e}") from e
                    try:
                        self._reconnect(generation)
                    except (TokenUnavailable, *LOST) as again:
                        raise TokenUnavailable(
                            f"PKCS#11 {self.spec.name}: cannot reconnect: {again}"
                        ) from again
            raise AssertionError("unreachable")
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            login, self._login = self._login, None
            self._generation += 1
        with self.module.lock.shared(), self.module.serial:
            for held in idle:
                with contextlib.suppress(p11e.PKCS11Error):
                    held.session.close()
            if login is not None:
                with contextlib.suppress(p11e.PKCS11Error):
                    login.close()
