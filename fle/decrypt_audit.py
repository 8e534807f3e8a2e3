"""`fle decrypt`'s audit log, which also keeps each refusal for the error lines printed at the end.

Apart from cmd_decrypt.py because it subclasses the decryptor's AuditLog: importing that (and
aws-encryption-sdk under it) is left to the run of `fle decrypt`, not to every `fle` command's start.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TextIO

from decryptor import AuditLog, Caller, Decrypted, DecryptError, Subject


class NotingAudit(AuditLog):
    """The audit log, which also keeps each refusal for the error lines printed at the end."""

    def __init__(self, path: str | None, stream: TextIO | None = None) -> None:
        super().__init__(path, stream=stream)
        self.refused: list[tuple[Subject, DecryptError]] = []
        self._noted = threading.Lock()

    def records(
        self,
        caller: Caller,
        results: Iterable[tuple[Subject, Decrypted | DecryptError]],
        time: str | None = None,
    ) -> None:
        results = list(results)
        super().records(caller, results, time)
        refused = [(subject, result) for subject, result in results if isinstance(result, DecryptError)]
        if refused:
            with self._noted:
                self.refused += refused
