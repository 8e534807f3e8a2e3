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
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pkcs11 import exceptions as p11e

from .errors import KeystoreConfigError
from .pkcs11_library import Module
from .pkcs11_token import (
    AMBIGUOUS,
    LOST,
    OperationFailed,
    TokenSpec,
    TokenUnavailable,
    alive,
    find_key,
    find_token,
    log_in,
)

T = TypeVar("T")

# seconds to wait before each further attempt to find a token that did not answer: the first attempt
# re-initialises the library at once (a token that came back); the later ones outlast another process's
# login, during which SoftHSM cannot read the token (_connect_anew); 0.35 s in all before giving up
_RECONNECT_WAITS = (0.0, 0.05, 0.1, 0.2)


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
        self._connect_anew(connected_before=False)

    # -- connecting ---------------------------------------------------------------------------------
    def _connect(self) -> None:
        """(Re)open the login session and check the key is there: fail now, not on first use."""
        with self.module.entered():
            token = find_token(self.module, self.spec)
            login = log_in(token, self.spec)
            self._token, self._login = token, login
            find_key(login, self.spec)

    def _connect_anew(self, *, connected_before: bool) -> None:
        """Connect; if that fails, re-initialise the library and connect again, a few times, briefly.

        SoftHSM (and some USB tokens) only see a token that appeared, or came back, after
        C_Finalize/C_Initialize. SoftHSM also rewrites the token's file on every login, and another
        process reading it meanwhile does not see the token at all: worker processes that log in at the
        same moment (the decryptor's, `fle rewrap`'s) hide it from each other for a few milliseconds.
        Hence the short waits of _RECONNECT_WAITS before the pool says the token is unavailable.
        Once the pool has been connected, a token that now fails the configuration (no such key, several
        tokens with the label) counts as unavailable too, so that a cluster fails over; on the first
        connect that error reaches the caller as it is.
        """
        lost = (*LOST, KeystoreConfigError) if connected_before else LOST
        seen = self.module.generation
        try:
            self._connect()
            return
        except (TokenUnavailable, *lost):
            pass
        for retry, wait in enumerate(_RECONNECT_WAITS, start=1):
            time.sleep(wait * random.uniform(0.5, 1.5))  # processes that collided do not again
            self.module.reinitialize(seen)  # unless another pool of this process just did
            seen = self.module.generation
            try:
                self._connect()
                return
            except (TokenUnavailable, *lost) as e:
                # A configuration error (the key gone, the PIN changed) gets this one re-initialisation,
                # no more: a real HSM locks a PIN after a few wrong logins.
                if retry < len(_RECONNECT_WAITS) and not isinstance(e, KeystoreConfigError):
                    continue
                if isinstance(e, TokenUnavailable):
                    raise
                raise TokenUnavailable(f"PKCS#11 {self.spec.name}: {type(e).__name__} {e}") from e

    def _open(self) -> _Session:
        session = self._token.open()
        try:
            return _Session(session, find_key(session, self.spec), self._generation)
        except BaseException:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()
            raise

    def _detach(self) -> tuple[list[_Session], Any]:
        """Forget every session and the login (caller holds `_lock`); they are closed by `_close`."""
        self._generation += 1
        stale, self._idle = self._idle, []
        login, self._login = self._login, None
        return stale, login

    def _close(self, stale: list[_Session], login: Any) -> None:
        """Close what `_detach` gave; errors ignored: the token may be gone."""
        with self.module.entered():
            for held in stale:
                with contextlib.suppress(p11e.PKCS11Error):
                    held.session.close()
            if login is not None:
                with contextlib.suppress(p11e.PKCS11Error):
                    login.close()

    def _reconnect(self, failed_generation: int) -> None:
        """Drop every session and find the token again; once per failure however many threads saw it."""
        with self._lock:
            if self._generation != failed_generation:
                return  # another thread already reconnected
            self.reconnects += 1
            stale, login = self._detach()
        self._close(stale, login)
        self._connect_anew(connected_before=True)

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

    def _once(self, operation: Callable[[Any], T]) -> T:
        """`operation` on a borrowed session; a LOST error propagates (the session is closed) unless the
        token still answers, in which case it was bad input: OperationFailed."""
        with self.module.entered():
            held = self._borrow()
            try:
                result = operation(held.key)
            except LOST as e:
                if isinstance(e, AMBIGUOUS) and alive(held.key):
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
                    return self._once(operation)
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
            stale, login = self._detach()
        self._close(stale, login)
