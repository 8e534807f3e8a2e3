"""Recovery and clustering against real SoftHSM2 tokens.

What SoftHSM really allows, and what these tests do:
- a lost session: the pool's sessions (and its login session) are closed underneath it with C_CloseSession;
- a token that goes away and comes back: its directory is moved out of SoftHSM's token directory (SoftHSM
  then answers CKR_OBJECT_HANDLE_INVALID / CKR_GENERAL_ERROR) and moved back (found again after
  C_Finalize/C_Initialize).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from keystore import BackendUnavailable, Wrapping
from keystore.pkcs11_backend import Pkcs11Backend
from keystore.settings import Pkcs11Settings
from tests.fixtures_softhsm import CLUSTER_KEY_LABEL, PIN, SoftHsm, import_key

OAEP = Wrapping.RSA_OAEP_SHA256_MGF1


def settings(module: str, *tokens: str, label: str = CLUSTER_KEY_LABEL, sessions: int) -> Pkcs11Settings:
    return Pkcs11Settings(module, tokens, None, label, None, "TEST_PKCS11_PIN", sessions)


@contextmanager
def token_removed(path: Path) -> Iterator[None]:
    away = path.parent.parent / (path.name + ".away")  # out of the token directory: SoftHSM scans all of it
    shutil.move(path, away)
    try:
        yield
    finally:
        shutil.move(away, path)


def roundtrip(backend: Pkcs11Backend, public: rsa.RSAPublicKey) -> None:
    data_key = os.urandom(32)
    assert backend.unwrap(public.encrypt(data_key, OAEP.padding()), OAEP) == data_key


def test_recovers_from_sessions_closed_underneath(softhsm: SoftHsm) -> None:
    backend = Pkcs11Backend(settings(softhsm.module, "fle-a", sessions=3), PIN)
    public = softhsm.cluster_key.public_key()
    try:
        for _ in range(4):
            roundtrip(backend, public)
        pool = backend._members[0].pool
        assert pool is not None and pool._idle
        for held in pool._idle:
            held.session.close()
        pool._login.close()  # logs the application out of the token as well
        for _ in range(4):
            roundtrip(backend, public)
        assert pool.reconnects >= 1
        assert backend.health()[0].healthy
    finally:
        backend.close()


def test_token_goes_away_and_comes_back(softhsm: SoftHsm) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    import_key(softhsm.module, "fle-solo", key, "SoloKey")
    backend = Pkcs11Backend(settings(softhsm.module, "fle-solo", label="SoloKey", sessions=2), PIN)
    try:
        roundtrip(backend, key.public_key())
        with token_removed(softhsm.token_dirs["fle-solo"]):
            with pytest.raises(BackendUnavailable, match="fle-solo"):
                roundtrip(backend, key.public_key())
            (health,) = backend.health()
            assert not health.healthy and health.last_error
        roundtrip(backend, key.public_key())  # a lone token is retried at once, not after the back-off
        assert backend.health()[0].healthy
    finally:
        backend.close()


def test_cluster_spreads_fails_over_and_heals(softhsm: SoftHsm) -> None:
    backend = Pkcs11Backend(settings(softhsm.module, "fle-a", "fle-b", sessions=2), PIN)
    public = softhsm.cluster_key.public_key()
    try:
        for _ in range(10):
            roundtrip(backend, public)
        a, b = backend.health()
        assert a.unwraps >= 3 and b.unwraps >= 3  # both tokens take work
        with token_removed(softhsm.token_dirs["fle-a"]):
            for _ in range(10):
                roundtrip(backend, public)  # never fails: fle-b answers
            a, b = backend.health()
            assert not a.healthy and "fle-a" in (a.last_error or "")
            assert b.healthy
        deadline = time.monotonic() + 10
        before = backend.health()[0].unwraps
        while backend.health()[0].unwraps == before:
            assert time.monotonic() < deadline, "fle-a was never used again after it came back"
            roundtrip(backend, public)
            time.sleep(0.05)
        assert all(h.healthy for h in backend.health())
    finally:
        backend.close()


def test_cluster_starts_with_one_token_down(softhsm: SoftHsm) -> None:
    with token_removed(softhsm.token_dirs["fle-b"]):
        backend = Pkcs11Backend(settings(softhsm.module, "fle-a", "fle-b", sessions=1), PIN)
        roundtrip(backend, softhsm.cluster_key.public_key())
        a, b = backend.health()
        assert a.healthy and not b.healthy and "fle-b" in (b.last_error or "")
    try:
        deadline = time.monotonic() + 10
        while backend.health()[1].unwraps == 0:  # fle-b joins once it is back and its back-off has passed
            assert time.monotonic() < deadline, "fle-b never joined the cluster"
            roundtrip(backend, softhsm.cluster_key.public_key())
            time.sleep(0.05)
    finally:
        backend.close()
