"""The decrypt service: answers a Request, many values at once, every value audited.

Values are decrypted on a thread pool sized by the config, so several data keys are being unwrapped at
the same time (HSM sessions, Parameter Store calls, or RSA in OpenSSL, all of which release the GIL).
A batch of MIN_PROCESS_BATCH values or more goes to worker processes instead when the config allows
more than one (processes.py says why and how); the audit lines are still written here, once per value.
One service lives as long as its Lambda container or CLI process and is reused across requests.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor
from typing import Any

from esdk_format import is_message
from keystore import Keystore, KeystoreConfigError
from store import Store, StoreError, Submission, open_store

from .audit import AuditLog, Caller, Subject
from .config import KEYSTORE_ENV, MIN_PROCESS_BATCH, STORE_ENV, DecryptorConfig
from .core import Decrypted, Decryptor
from .errors import DecryptError
from .events import Request
from .indexes import ConfigIndexes
from .match import match, normalizer_for
from .processes import ProcessDecryptor
from .reasons import Reason

log = logging.getLogger(__name__)

NOT_UTF8 = "plaintext is not UTF-8; decrypt the value alone to get plaintext_base64"


def value_answer(result: Decrypted | DecryptError) -> dict[str, str]:
    """{"plaintext"} (UTF-8), {"plaintext_base64"} (other bytes) or {"error"} for one value."""
    if isinstance(result, DecryptError):
        return {"error": str(result.reason)}
    try:
        return {"plaintext": result.plaintext.decode("utf-8")}
    except UnicodeDecodeError:
        return {"plaintext_base64": base64.b64encode(result.plaintext).decode("ascii")}


class DecryptService:
    """A keystore, a decryptor with its policy, an audit log and a thread pool; thread-safe."""

    def __init__(
        self, config: DecryptorConfig, keystore: Keystore | None = None, audit: AuditLog | None = None
    ) -> None:
        keystore_given = keystore
        if keystore is None:
            if not config.keystore_path:
                raise KeystoreConfigError(f"set {KEYSTORE_ENV} to the path of the keystore file")
            keystore = Keystore.from_file(config.keystore_path)
        self.config = config
        self.keystore = keystore
        self.decryptor = Decryptor(keystore, config.policy)
        self.audit = audit or AuditLog(config.audit_file)
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="fle-decrypt")
        # processes open their own keystore from the file, so only a service that opened it itself uses them
        self._use_processes = config.processes > 1 and bool(config.keystore_path) and keystore_given is None
        self._processes: ProcessDecryptor | None = None
        # for tests and diagnostics only: the pids that decrypted the last batch (this one's for threads)
        self.last_batch_pids: frozenset[int] = frozenset()
        self._indexes: ConfigIndexes | None = None  # the config's Fle:Indexes, read on the first match

    def indexes(self) -> ConfigIndexes | None:
        """The blind indexes of the config directory (FLE_CONFIG), read once; None without one.
        DecryptorConfigError when the config does not load."""
        if self.config.config_dir is None:
            return None
        if self._indexes is None:
            self._indexes = ConfigIndexes.load(self.config.config_dir)
        return self._indexes

    def _quiet(self, value: object) -> Decrypted | DecryptError:
        try:
            return self.decryptor.decrypt(value)
        except DecryptError as e:
            return e

    def decrypt_unaudited(self, values: Sequence[object]) -> list[Decrypted | DecryptError]:
        """Each value's result, in order, on the threads, with no audit line: for a caller that writes its
        own line for the whole call (match). Never return these plaintexts to anyone."""
        return [f.result() for f in [self._pool.submit(self._quiet, value) for value in values]]

    def _one(self, value: object, subject: Subject, caller: Caller) -> Decrypted | DecryptError:
        try:
            result: Decrypted | DecryptError = self.decryptor.decrypt(value)
        except DecryptError as e:
            result = e
        self.audit.record(caller, subject, result)
        return result

    def decrypt_all(
        self, values: Sequence[tuple[object, Subject]], caller: Caller
    ) -> list[Decrypted | DecryptError]:
        """Each value's result, in order; up to `workers` of them in flight at once (in each process)."""
        processes = self._process_pool() if len(values) >= MIN_PROCESS_BATCH else None
        if processes is not None:
            return self._decrypt_on_processes(processes, values, caller)
        self.last_batch_pids = frozenset({os.getpid()})
        futures = [self._pool.submit(self._one, value, subject, caller) for value, subject in values]
        return [f.result() for f in futures]

    def _decrypt_on_processes(
        self, processes: ProcessDecryptor, values: Sequence[tuple[object, Subject]], caller: Caller
    ) -> list[Decrypted | DecryptError]:
        """decrypt_all on the worker processes: each chunk audited, in request order, as it comes back,
        while the workers decrypt the next ones. When a worker dies, the values not yet audited go to
        the threads, so every value is still audited exactly once."""
        results: list[Decrypted | DecryptError] = []
        pids: set[int] = set()
        try:
            for outcomes in processes.decrypt_chunks([value for value, _ in values]):
                start = len(results)
                chunk = values[start : start + len(outcomes)]
                done = [
                    (subject, result) for (_, subject), (result, _pid) in zip(chunk, outcomes, strict=True)
                ]
                self.audit.records(caller, done)  # the chunk's lines in a few writes, not one per value
                results += [result for _, result in done]
                pids.update(pid for _, pid in outcomes)
        except BrokenExecutor as e:  # a worker died (killed, out of memory): threads from now on
            log.warning("decrypting on threads only: a worker process stopped (%s)", type(e).__name__)
            self._stop_processes()
            results += self.decrypt_all(values[len(results) :], caller)
            pids |= self.last_batch_pids
        self.last_batch_pids = frozenset(pids)
        return results

    def _process_pool(self) -> ProcessDecryptor | None:
        """The worker processes, started on the first large batch; None (threads) where they cannot run."""
        if not self._use_processes:
            return None
        if self._processes is None:
            assert self.config.keystore_path is not None
            try:
                self._processes = ProcessDecryptor(
                    self.config.keystore_path,
                    self.config.policy,
                    self.config.processes,
                    max(1, -(-self.config.workers // self.config.processes)),
                )
            # no /dev/shm (Lambda), no sem_open; or a worker that cannot start (an unguarded __main__)
            except (OSError, NotImplementedError, ImportError, BrokenExecutor) as e:
                log.warning("decrypting on threads only: worker processes cannot start here (%s)", e)
                self._use_processes = False
                return None
        return self._processes

    def _stop_processes(self) -> None:
        self._use_processes = False
        if self._processes is not None:
            self._processes.close()
            self._processes = None

    def run(self, request: Request, caller: Caller) -> dict[str, Any]:
        """The answer to `request`; StoreError when the store cannot be read; for a match, BadRequest
        (NotIndexed) for a normalizer it cannot settle and DecryptorConfigError for a config that does not
        load."""
        if request.kind == "match":
            assert request.match is not None
            normalizer = normalizer_for(request.match, self.indexes())
            return match(
                request.match,
                normalizer,
                lambda ids: asyncio.run(self._get_many(ids)),
                self.decrypt_unaudited,
                self.audit,
                caller,
            )
        if request.kind == "ciphertexts":
            subjects = [(value, Subject(index=i)) for i, value in enumerate(request.values)]
            return {"results": [value_answer(r) for r in self.decrypt_all(subjects, caller)]}
        items = asyncio.run(self._load(request))
        return {"items": self._decrypt_items(request, items, caller)}

    async def _load(self, request: Request) -> dict[str, Submission]:
        if request.kind == "recent":
            return await self._read(lambda store: store.recent(request.recent))
        return await self._get_many(request.ids)

    async def _get_many(self, ids: Sequence[str]) -> dict[str, Submission]:
        return await self._read(lambda store: store.get_many(ids))

    async def _read(self, read: Callable[[Store], Awaitable[Any]]) -> dict[str, Submission]:
        if not self.config.store_url:
            raise StoreError(f"set {STORE_ENV} to the store URL (sqlite:///PATH or dynamodb://TABLE)")
        store = open_store(self.config.store_url, create=False)  # read only: never make a store
        try:
            found = await read(store)
            return found if isinstance(found, dict) else {item.id: item for item in found}
        finally:
            await store.close()

    def _decrypt_items(
        self, request: Request, found: dict[str, Submission], caller: Caller
    ) -> list[dict[str, Any]]:
        order = list(request.ids) if request.kind == "ids" else list(found)
        work = [
            (value, Subject(item_id=item_id, field=name))
            for item_id in order
            if item_id in found
            for name, value in found[item_id].fields.items()
            if is_message(value)
        ]
        results = dict(
            zip(((s.item_id, s.field) for _, s in work), self.decrypt_all(work, caller), strict=True)
        )
        answers: list[dict[str, Any]] = []
        for item_id in order:
            item = found.get(item_id)
            if item is None:
                answers.append({"id": item_id, "fields": {}, "errors": {}, "error": str(Reason.NOT_FOUND)})
                continue
            fields: dict[str, str] = {}
            errors: dict[str, str] = {}
            for name, value in item.fields.items():
                answer = value_answer(results[(item_id, name)]) if (item_id, name) in results else {}
                fields[name] = answer.get("plaintext", value)
                if "error" in answer:
                    errors[name] = answer["error"]
                elif "plaintext_base64" in answer:
                    errors[name] = NOT_UTF8
            answers.append(
                {"id": item.id, "received_at": item.received_at, "fields": fields, "errors": errors}
            )
        return answers

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._stop_processes()
        self.keystore.close()
        self.audit.close()
