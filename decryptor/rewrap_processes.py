"""Re-wrapping a large `fle rewrap` run on several processes, so every core works.

The same design as the decryptor's batches (processes.py, which says why in full): a re-wrap is one RSA
private-key operation (which releases the GIL) plus header parsing, HKDF, AES-GCM and the new key's
public-key operation in Python around it, so threads in one process top out near one core.

- Each worker process opens its own keystore from the same keystore file (its own PKCS#11 sessions, SSM
  client, file key) and holds the old key's backend and the new public key: private keys never cross a
  process boundary. Only stored base64 values (ciphertext) go to a worker, and only re-wrapped values
  (ciphertext) or reasons in words come back (rewrap_work.ValueOutcome), through the executor's pipes, in
  memory. Plaintext exists nowhere: re-wrapping never decrypts the content.
- Workers check that their new public key is the one the parent self-tested (and checked against the
  CloudFront config): a keystore file changed in between stops the run instead of wrapping for another key.
- The parent keeps everything else: the plan, reading and conditional writes, progress and audit lines.
- 'spawn', never fork (inherited PKCS#11 sessions are unusable); where the pool cannot start (no
  /dev/shm for its semaphores, as on AWS Lambda) the caller falls back to threads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from keystore import Keystore

from .rewrap import KeyRef, NewKey, RewrapError
from .rewrap_work import ValueOutcome, ValueRewrapper
from .worker_pool import START_TIMEOUT, spawn_pool

# the worker process's own keystore, re-wrapper and threads, made once by _start
_keystore: Keystore | None = None
_rewrapper: ValueRewrapper | None = None
_threads: ThreadPoolExecutor | None = None
_same_key = False


def public_pem(key: RSAPublicKey) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo): what parent and workers compare."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _start(keystore_path: str, old: KeyRef, new: KeyRef, new_pem: bytes, threads: int, barrier: Any) -> None:
    global _keystore, _rewrapper, _threads, _same_key
    _keystore = Keystore.from_file(keystore_path)
    entry = _keystore.entry(new.provider_id, new.key_name)
    public = _keystore.backend(new.provider_id, new.key_name).public_key()
    _same_key = public_pem(public) == new_pem
    _rewrapper = ValueRewrapper(_keystore, old, NewKey(new, public, entry.wrapping.padding()))
    _threads = ThreadPoolExecutor(threads, thread_name_prefix="fle-rewrap")
    barrier.wait(START_TIMEOUT)  # every worker is up before the first chunk: the work is shared at once


def _ready() -> tuple[int, bool]:
    return os.getpid(), _same_key


def _rewrap_chunk(values: Sequence[str]) -> list[ValueOutcome]:
    assert _threads is not None and _rewrapper is not None
    return list(_threads.map(_rewrapper, values))


class ProcessRewrapper:
    """A pool of `processes` spawned workers, each with its own keystore and `threads` threads."""

    def __init__(self, keystore_path: str, old: KeyRef, new: NewKey, processes: int, threads: int) -> None:
        self.processes = processes
        initargs = (keystore_path, old, new.ref, public_pem(new.public_key), threads)
        self._pool, ready = spawn_pool(processes, _start, initargs, _ready)
        if not all(same for _, same in ready):
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise RewrapError(
                f"the keystore file changed during the run: its key {new.ref} is no longer the one "
                "self-tested; nothing more is written, run again"
            )
        self.pids = frozenset(pid for pid, _ in ready)

    def submit(self, values: Sequence[str]) -> list[Future[list[ValueOutcome]]]:
        """The values in chunks spread over the workers; each future's outcomes are in the chunk's order."""
        size = max(1, math.ceil(len(values) / (self.processes * 2)))
        return [self._pool.submit(_rewrap_chunk, values[i : i + size]) for i in range(0, len(values), size)]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
