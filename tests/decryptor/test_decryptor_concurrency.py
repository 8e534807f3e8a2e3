"""Many values are decrypted with several unwraps in flight at once, on the configured number of threads."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from decryptor import AuditLog, Caller, DecryptorConfig, DecryptService, Request
from keystore import KeyBackend, Keystore, Wrapping
from tests.fixtures_decryptor import DecryptEnv, proxy_encrypt

WORKERS = 4


class MeetingBackend(KeyBackend):
    """The real backend, but each unwrap waits until WORKERS unwraps are in flight together: a service that
    unwrapped one at a time would break the barrier (after 20 s) and every value would fail."""

    def __init__(self, inner: KeyBackend, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier
        self.threads: set[str] = set()

    def unwrap(self, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        self.threads.add(threading.current_thread().name)
        self.barrier.wait()
        return self.inner.unwrap(encrypted_key, wrapping)

    def public_key(self) -> RSAPublicKey:
        return self.inner.public_key()


class MeetingKeystore(Keystore):
    barrier = threading.Barrier(WORKERS, timeout=20)
    wrapped: dict[tuple[str, str], MeetingBackend] = {}  # noqa: RUF012 - one per test class use

    def backend(self, provider_id: str, key_name: str) -> KeyBackend:
        ident = (provider_id, key_name)
        if ident not in self.wrapped:
            self.wrapped[ident] = MeetingBackend(super().backend(provider_id, key_name), self.barrier)
        return self.wrapped[ident]


def test_unwraps_overlap(decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    MeetingKeystore.wrapped = {}
    keystore = MeetingKeystore.from_file(decrypt_env.keystore)
    config = DecryptorConfig(keystore_path=str(decrypt_env.keystore), workers=WORKERS)
    service = DecryptService(config, keystore=keystore, audit=AuditLog(str(tmp_path / "audit.jsonl")))
    plaintexts = [f"value {i}" for i in range(WORKERS * 3)]
    values = tuple(proxy_encrypt(rsa_key, p.encode()) for p in plaintexts)
    try:
        answer = service.run(Request("ciphertexts", values=values), Caller("test"))
    finally:
        service.close()
    assert [r.get("plaintext", r.get("error")) for r in answer["results"]] == plaintexts
    (backend,) = MeetingKeystore.wrapped.values()
    assert len(backend.threads) == WORKERS and all(t.startswith("fle-decrypt") for t in backend.threads)
