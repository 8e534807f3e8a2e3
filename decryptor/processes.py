"""Decrypting a large batch on several processes, so every core works.

Why processes: the RSA private-key operation releases the GIL (OpenSSL, or the token's PKCS#11 call),
but aws-encryption-sdk's own Python work per message (~0.4 ms: header parsing, key derivation, framing)
does not, so threads in one process top out near one core. Each worker process opens its own keystore
from the same keystore file (its own PKCS#11 sessions, SSM client, file key): private keys never cross a
process boundary. Only base64 ciphertexts go to a worker and only results (plaintext bytes, key names,
reason codes) come back, through the executor's pipes, in memory. Audit lines stay with the parent.

Why 'spawn': a forked child would inherit the parent's open PKCS#11 sessions and threads, which PKCS#11
forbids using after fork. Spawned workers start clean and import the decryptor once, when the pool starts.

Where processes cannot run: ProcessPoolExecutor's call and result queues are multiprocessing queues,
whose locks are POSIX semaphores (sem_open, backed by /dev/shm). AWS Lambda has no /dev/shm, so creating
the pool fails there with OSError; the default on Lambda is therefore 1 (threads only), and any failure
to start the pool falls back to threads with one warning.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from keystore import Keystore

from .core import Decrypted, Decryptor
from .errors import DecryptError
from .policy import Policy
from .worker_pool import START_TIMEOUT, spawn_pool

log = logging.getLogger(__name__)

Outcome = tuple[Decrypted | DecryptError, int]  # a value's result and the pid of the process that did it

# the smallest chunk sent to a worker: below this, a chunk's round trip (pickling, the pipes, the worker's
# threads starting on it and draining) costs more than the balance it buys
MIN_CHUNK = 16

# the worker process's own decryptor and threads, made once by _start
_decryptor: Decryptor | None = None
_threads: ThreadPoolExecutor | None = None


def _start(keystore_path: str, policy: Policy, threads: int, barrier: Any) -> None:
    global _decryptor, _threads
    _decryptor = Decryptor(Keystore.from_file(keystore_path), policy)
    _threads = ThreadPoolExecutor(threads, thread_name_prefix="fle-decrypt")
    barrier.wait(START_TIMEOUT)  # every worker is up before the first batch: the work is shared at once


def _ready() -> int:
    return os.getpid()


def _decrypt_one(value: object) -> Outcome:
    assert _decryptor is not None
    try:
        result: Decrypted | DecryptError = _decryptor.decrypt(value)
    except DecryptError as e:
        result = e
    return result, os.getpid()


def _decrypt_chunk(values: Sequence[object]) -> list[Outcome]:
    assert _threads is not None
    return list(_threads.map(_decrypt_one, values))


def chunk_sizes(count: int, processes: int) -> list[int]:
    """Guided chunking: each chunk half of an even share of what is left, MIN_CHUNK at least. Early chunks
    are large (few round trips), the last ones small, so the workers finish nearly together and the parent,
    which audits each chunk as it completes, has only a small last chunk left to audit after the work."""
    sizes: list[int] = []
    left = count
    while left > 0:
        size = min(left, max(MIN_CHUNK, math.ceil(left / (2 * processes))))
        sizes.append(size)
        left -= size
    return sizes


class ProcessDecryptor:
    """A pool of `processes` spawned workers, each with its own keystore and `threads` threads."""

    def __init__(self, keystore_path: str, policy: Policy, processes: int, threads: int) -> None:
        self.processes = processes
        self._pool, pids = spawn_pool(processes, _start, (keystore_path, policy, threads), _ready)
        self.pids = frozenset(pids)

    def decrypt_chunks(self, values: Sequence[object]) -> Iterator[list[Outcome]]:
        """Each value's result and the pid that decrypted it, chunk after chunk in order, each chunk as
        soon as it and every one before it is done, while later chunks are still being decrypted: the
        caller audits a chunk as it comes instead of after the whole batch (Amdahl: the parent's serial
        work is what keeps two processes from twice one core's rate). BrokenExecutor from the iteration
        when a worker died; chunks already yielded stay valid. Closing the iterator early cancels the
        chunks not yet started."""
        futures = []
        start = 0
        for size in chunk_sizes(len(values), self.processes):
            futures.append(self._pool.submit(_decrypt_chunk, values[start : start + size]))
            start += size
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
