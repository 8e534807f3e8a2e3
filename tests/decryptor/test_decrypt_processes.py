"""A large batch is decrypted on several worker processes, with the same answers and audit lines as one.

Runs on the file backend and SoftHSM (each worker process opens its own keystore from the same file, so
its own PKCS#11 sessions). The pids that decrypted a batch come from DecryptService.last_batch_pids, the
hook kept for tests and diagnostics (docs/decryptor.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import DecryptorConfig, DecryptorConfigError, handler
from decryptor.config import MIN_PROCESS_BATCH
from decryptor.processes import MIN_CHUNK, chunk_sizes
from esdk_format import is_message
from store import SqliteStore, Submission
from tests.fixtures_decryptor import BEFORE_ANY_BACKEND, DecryptEnv, KeySpec, proxy_encrypt, sdk_encrypt

BACKENDS = pytest.mark.parametrize(
    "make_keystore", ["file_keystore_factory", "pkcs11_keystore_factory"], indirect=True
)


def mixed_values(key: rsa.RSAPrivateKey, old: rsa.RSAPrivateKey, count: int) -> list[str]:
    """Values of every outcome: decrypted (two keys), not UTF-8, tampered, unknown key, not a message,
    refused by the policy before any unwrap (two data keys)."""
    values = []
    for i in range(count):
        kind = i % 7
        if kind == 0:
            values.append(proxy_encrypt(old, f"old {i}".encode(), name="OldKey"))
        elif kind == 1:
            message = bytearray(base64.b64decode(proxy_encrypt(key, b"x")))
            message[-5] ^= 0x40
            values.append(base64.b64encode(bytes(message)).decode())
        elif kind == 2:
            values.append(proxy_encrypt(key, b"y", provider="Nope"))
        elif kind == 3:
            values.append(f"not base64 {i}!")
        elif kind == 4:
            values.append(proxy_encrypt(key, b"\xff\xfe" + bytes([i % 256])))
        elif kind == 5:
            values.append(sdk_encrypt([KeySpec(key), KeySpec(old, key_name="OldKey")], b"two keys"))
        else:
            values.append(proxy_encrypt(key, f"404-555-{i:04d}".encode()))
    return values


def run(
    env: DecryptEnv, monkeypatch: pytest.MonkeyPatch, processes: int, event: dict[str, object]
) -> tuple[dict[str, object], list[dict[str, object]], frozenset[int]]:
    """The answer, the audit lines it wrote (without their time) and the pids that decrypted."""
    monkeypatch.setenv("FLE_DECRYPT_PROCESSES", str(processes))
    handler.reset_cache()
    before = len(env.audit_lines())
    answer = handler.lambda_handler(event, None)
    (service,) = handler.cached_services()
    pids = service.last_batch_pids
    handler.reset_cache()
    audit = [json.loads(line) for line in env.audit_lines()[before:]]
    for line in audit:
        del line["time"]
    return answer, audit, pids


def differences(one: dict[str, object], two: dict[str, object]) -> list[tuple[int, object, object]]:
    """(position, one's entry, two's entry) wherever two answers of the same kind differ: a failure names
    the few entries at fault instead of a diff of hundreds of identical ones."""
    (kind,) = one
    assert set(two) == {kind}
    first, second = one[kind], two[kind]
    assert isinstance(first, list) and isinstance(second, list) and len(first) == len(second)
    return [(i, a, b) for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]


def diagnosis(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    one_audit: list[dict[str, object]],
    two_audit: list[dict[str, object]],
) -> str:
    """What the keystore and decryptor warned of, here and in the worker processes (their stderr), and
    the audit lines (with their detail) that only one of the two runs wrote."""
    lines = [json.dumps(line) for line in two_audit if line not in one_audit]
    lines += [json.dumps(line) for line in one_audit if line not in two_audit]
    return "\n".join([*(r.getMessage() for r in caplog.records), capfd.readouterr().err, *lines])


COUNT = MIN_PROCESS_BATCH + 14  # a batch large enough for the processes, with every outcome in it


@BACKENDS
def test_ciphertexts_same_on_one_and_two_processes(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = mixed_values(rsa_key, other_rsa_key, COUNT)
    one, one_audit, one_pids = run(decrypt_env, monkeypatch, 1, {"ciphertexts": values})
    two, two_audit, two_pids = run(decrypt_env, monkeypatch, 2, {"ciphertexts": values})
    assert one_pids == {os.getpid()}
    # the work really ran in two worker processes, neither of them this one
    assert len(two_pids) == 2 and os.getpid() not in two_pids
    assert differences(one, two) == [], diagnosis(capfd, caplog, one_audit, two_audit)
    results = one["results"]
    assert isinstance(results, list) and len(results) == COUNT
    assert results[6] == {"plaintext": "404-555-0006"} and results[7] == {"plaintext": "old 7"}
    assert [results[i].get("error") for i in range(1, 6)] == [
        "decrypt_failed", "key_unknown", "not_a_message", None, "policy_refused"
    ]  # fmt: skip
    assert "plaintext_base64" in results[4]
    # one audit line per value, with the same caller, keys, reasons and details (threads write them as
    # values finish, processes in order)
    assert two_audit == sorted(one_audit, key=lambda line: line["index"])
    assert [line["index"] for line in two_audit] == list(range(COUNT))


@BACKENDS
async def test_recent_and_ids_same_on_one_and_two_processes(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = mixed_values(rsa_key, other_rsa_key, 2 * MIN_PROCESS_BATCH)
    store = SqliteStore(decrypt_env.store_path)
    items = [
        Submission(fields={"name": f"n{i}", "phone": values[2 * i], "card": values[2 * i + 1]})
        for i in range(MIN_PROCESS_BATCH)
    ]
    for item in items:
        await store.put(item)
    await store.close()
    ids = ["missing", *(item.id for item in reversed(items))]
    messages = sum(1 for value in values if is_message(value))
    for event in ({"recent": MIN_PROCESS_BATCH}, {"ids": ids}):
        one, one_audit, _ = await asyncio.to_thread(run, decrypt_env, monkeypatch, 1, event)
        two, two_audit, two_pids = await asyncio.to_thread(run, decrypt_env, monkeypatch, 2, event)
        assert len(two_pids) == 2 and os.getpid() not in two_pids
        assert differences(one, two) == [], diagnosis(capfd, caplog, one_audit, two_audit)
        assert sorted(map(json.dumps, two_audit)) == sorted(map(json.dumps, one_audit))
        assert len(one_audit) == messages
    assert one["items"][0] == {"id": "missing", "fields": {}, "errors": {}, "error": "not_found"}


@BEFORE_ANY_BACKEND
def test_small_batches_and_given_keystores_stay_on_threads(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [proxy_encrypt(rsa_key, b"v")] * (MIN_PROCESS_BATCH - 1)
    answer, audit, pids = run(decrypt_env, monkeypatch, 2, {"ciphertexts": values})
    assert pids == {os.getpid()} and len(audit) == MIN_PROCESS_BATCH - 1
    assert answer == {"results": [{"plaintext": "v"}] * (MIN_PROCESS_BATCH - 1)}


def test_processes_setting() -> None:
    assert DecryptorConfig.from_env({"FLE_DECRYPT_PROCESSES": "3"}).processes == 3
    assert DecryptorConfig.from_env({}).processes == len(os.sched_getaffinity(0))
    # AWS Lambda has no /dev/shm, so no semaphore for a process pool's queues: threads only by default
    assert DecryptorConfig.from_env({"AWS_LAMBDA_FUNCTION_NAME": "fle-decrypt"}).processes == 1
    with pytest.raises(DecryptorConfigError, match="FLE_DECRYPT_PROCESSES must be from 1 to 64, not 0"):
        DecryptorConfig.from_env({"FLE_DECRYPT_PROCESSES": "0"})


@pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)
def test_a_killed_worker_falls_back_to_threads(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLE_DECRYPT_PROCESSES", "2")
    handler.reset_cache()
    values = [proxy_encrypt(rsa_key, f"v{i}".encode()) for i in range(MIN_PROCESS_BATCH)]
    expected = {"results": [{"plaintext": f"v{i}"} for i in range(MIN_PROCESS_BATCH)]}
    assert handler.lambda_handler({"ciphertexts": values}, None) == expected
    (service,) = handler.cached_services()
    assert len(service.last_batch_pids) == 2
    os.kill(min(service.last_batch_pids), signal.SIGKILL)
    pool = service._processes._pool  # type: ignore[union-attr]
    for _ in range(200):  # until the executor has seen its worker die (bounded: 10 s)
        if pool._broken:  # type: ignore[attr-defined]
            break
        time.sleep(0.05)
    # the same answer, from this process's threads; one audit line per value, none twice
    assert handler.lambda_handler({"ciphertexts": values}, None) == expected
    assert service.last_batch_pids == {os.getpid()}
    assert len(decrypt_env.audit_lines()) == 2 * MIN_PROCESS_BATCH
    handler.reset_cache()


def test_chunks_cover_the_batch_large_first_small_last() -> None:
    for count, processes in [(MIN_PROCESS_BATCH, 2), (1000, 2), (1000, 8), (5, 2), (4097, 3)]:
        sizes = chunk_sizes(count, processes)
        assert sum(sizes) == count and all(size > 0 for size in sizes)
        assert sizes == sorted(sizes, reverse=True)  # the workers finish on small chunks, together
        assert all(size >= MIN_CHUNK for size in sizes[:-1])
    assert chunk_sizes(1000, 2)[:3] == [250, 188, 141]


@pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)
def test_a_worker_killed_mid_batch_leaves_every_value_audited_once(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are audited as they come back; when a worker dies after some were, the rest go to the
    threads: every value answered in order and audited exactly once, the processes' lines in order."""
    monkeypatch.setenv("FLE_DECRYPT_PROCESSES", "2")
    handler.reset_cache()
    count = 1000  # the most an event takes: long enough on two processes (0.3 s or more) to be cut
    values = [proxy_encrypt(rsa_key, f"v{i}".encode()) for i in range(count)]
    expected = {"results": [{"plaintext": f"v{i}"} for i in range(count)]}
    small = values[:MIN_PROCESS_BATCH]
    handler.lambda_handler({"ciphertexts": small}, None)  # start the workers
    (service,) = handler.cached_services()
    workers = service.last_batch_pids
    before = len(decrypt_env.audit_lines())
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(handler.lambda_handler, {"ciphertexts": values}, None)
        deadline = time.monotonic() + 30
        while len(decrypt_env.audit_lines()) == before and not answer.done() and time.monotonic() < deadline:
            time.sleep(0.002)  # until the first chunk is audited
        assert not answer.done(), "the batch ended before a worker could be killed mid-batch"
        os.kill(min(workers), signal.SIGKILL)
        assert answer.result(60) == expected
    # the batch was cut in the middle: part on the workers, the rest on this process's threads
    assert os.getpid() in service.last_batch_pids and service.last_batch_pids & workers
    audit = [json.loads(line) for line in decrypt_env.audit_lines()[before:]]
    indexes = [line["index"] for line in audit]
    assert sorted(indexes) == list(range(count))  # each value once: none twice, none missing
    on_processes = next(i for i, index in enumerate(indexes) if index != i)  # threads finish out of order
    assert 0 < on_processes < count
    assert all(line["outcome"] == "decrypted" for line in audit)
    handler.reset_cache()
