"""The decryptor: the only place where protected values become plaintext again, with keystore-held keys.

The names below are imported on first use (PEP 562): a spawned worker process of `fle rewrap` imports
only `decryptor.rewrap_processes` and what it needs, not aws-encryption-sdk (and boto3 under it), which
would add about half a second to every worker's start (docs/key-rotation.md, "Every core").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .audit import AuditLog, Caller, Subject
    from .batch import DecryptService
    from .config import DecryptorConfig
    from .core import Decrypted, Decryptor
    from .errors import BadRequest, DecryptError, DecryptorConfigError, DecryptorError, PolicyRefused
    from .events import Request, parse_request
    from .handler import lambda_handler
    from .policy import Policy
    from .reasons import Reason

_WHERE = {
    "AuditLog": "audit",
    "Caller": "audit",
    "Subject": "audit",
    "DecryptService": "batch",
    "DecryptorConfig": "config",
    "Decrypted": "core",
    "Decryptor": "core",
    "BadRequest": "errors",
    "DecryptError": "errors",
    "DecryptorConfigError": "errors",
    "DecryptorError": "errors",
    "PolicyRefused": "errors",
    "Request": "events",
    "parse_request": "events",
    "lambda_handler": "handler",
    "Policy": "policy",
    "Reason": "reasons",
}

__all__ = [
    "AuditLog",
    "BadRequest",
    "Caller",
    "DecryptError",
    "DecryptService",
    "Decrypted",
    "Decryptor",
    "DecryptorConfig",
    "DecryptorConfigError",
    "DecryptorError",
    "Policy",
    "PolicyRefused",
    "Reason",
    "Request",
    "Subject",
    "lambda_handler",
    "parse_request",
]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
