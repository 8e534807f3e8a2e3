"""The loaded PKCS#11 library: loading it once per process, initialising it for threads, re-initialising it.

python-pkcs11 calls C_Initialize(NULL), which per PKCS#11 promises the library that no two threads call
it at once; SoftHSM then takes no locks and crashes under concurrent sessions. So the same loaded library
(dlopen returns the same handle) is finalised and initialised again here with CKF_OS_LOCKING_OK. A library
that refuses is entered by one thread at a time instead.

Re-initialising (C_Finalize + C_Initialize) is also how SoftHSM and some USB tokens discover a token that
appeared or came back; it is undefined behaviour under live calls, hence the reader/writer lock: many
calls at once, or one re-initialisation alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pkcs11
from pkcs11 import exceptions as p11e

from .errors import BackendUnavailable

CKF_OS_LOCKING_OK = 0x2


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
    """Re-initialise the library with CKF_OS_LOCKING_OK; False if it cannot do that."""
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

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Around every call into the library: no re-initialisation meanwhile, one thread if not threaded."""
        with self.lock.shared(), self.serial:
            yield

    def reinitialize(self, seen_generation: int) -> None:
        """C_Finalize + C_Initialize, once per generation however many pools ask at the same time."""
        with self.lock.exclusive():
            if self.generation != seen_generation:
                return
            self.generation += 1
            if not _initialize_for_threads(self.path):
                with contextlib.suppress(p11e.PKCS11Error):
                    self.lib.reinitialize()
