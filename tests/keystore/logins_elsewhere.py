"""What a spawned process runs in tests/keystore/test_keystore_pkcs11.py's test of processes that log in to
one SoftHSM token at the same moment: kept apart so the child imports this and the keystore, not pytest."""

from __future__ import annotations

from typing import Any

from keystore.pkcs11_backend import Pkcs11Backend
from keystore.settings import Pkcs11Settings


def open_and_close(module: str, token: str, label: str, pin: str, rounds: int, barrier: Any) -> list[str]:
    """Open the backend (one login) and close it (logged out), `rounds` times; the errors seen."""
    settings = Pkcs11Settings(module, (token,), None, label, None, "TEST_PKCS11_PIN", 1)
    barrier.wait(60)  # every process starts logging in together
    failures = []
    for _ in range(rounds):
        try:
            Pkcs11Backend(settings, pin).close()
        except Exception as e:  # what the test reports: any failure to open
            failures.append(f"{type(e).__name__}: {e}")
    return failures
