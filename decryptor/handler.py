"""Lambda entry point: `lambda_handler(event, context)`, for direct invokes and API Gateway proxy events.

Direct invoke (results are JSON-serialisable; errors are data, never exceptions):

    {"ciphertexts": ["AYAB...", ...]}
        -> {"results": [{"plaintext": "..."} | {"plaintext_base64": "..."} | {"error": code}, ...]}
    {"ids": ["<id>", ...]}                      (items read from the store named by FLE_STORE)
    {"recent": N}                               (the N newest items, same answer as "ids")
        -> {"items": [{"id": ..., "received_at": ..., "fields": {name: plaintext or value as stored},
                       "errors": {name: code}}          (or "error": "not_found")
                   , ...]}
    {"match": {"field": "phone", "term": "AYAB...", "ids": ["<id>", ...]}}   (match.py; "normalize":
                                                 "digits" too when FLE_CONFIG is not set)
        -> {"ids": [matching ids], "errors": [{"id": ..., "error": code}, ...]}
           (or {"ids": [], "errors": [], "error": code} when the term cannot be used)
    anything else -> {"error": "bad_event"}

Errors are reason codes (reasons.py), never messages: a value's detail goes to its audit line, a whole
request's to the `fle.decryptor` log (Lambda sends both to CloudWatch Logs).

API Gateway (REST payload v1, HTTP API payload v2): a POST with one of those as its JSON body, answered
with statusCode, headers and the same answer as JSON body (see apigw.py). Settings come from the
environment (see config.py); the service they describe is built once per container and reused.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from keystore import KeystoreError
from store import StoreError, StoreUrlError

from . import apigw
from .audit import Caller
from .batch import DecryptService
from .config import DecryptorConfig
from .errors import BadRequest, DecryptorConfigError, NotIndexed
from .events import parse_request
from .reasons import Reason

log = logging.getLogger("fle.decryptor")

_decryptors: dict[DecryptorConfig, DecryptService] = {}


def _service() -> DecryptService:
    """The service for the current environment, kept across invocations as a Lambda container keeps it."""
    config = DecryptorConfig.from_env(os.environ)
    if config not in _decryptors:
        _decryptors[config] = DecryptService(config)
    return _decryptors[config]


def cached_services() -> tuple[DecryptService, ...]:
    """The services kept across invocations, one per configuration seen (for tests and health checks)."""
    return tuple(_decryptors.values())


def reset_cache() -> None:
    """Close every kept service and forget it, so the next invocation reads its configuration afresh.

    For tests (each starts from an empty cache and leaves no open keystore session behind) and for a host
    that changes the configuration in place; a Lambda container never needs it (a new configuration is a new
    container).
    """
    services = cached_services()
    _decryptors.clear()
    for service in services:
        service.close()


def lambda_caller(context: Any) -> Caller:
    """The invocation as the Lambda context describes it (no context: a local call)."""
    if context is None:
        return Caller("local")
    details = {
        "request_id": getattr(context, "aws_request_id", None),
        "function_arn": getattr(context, "invoked_function_arn", None),
        "cognito_identity_id": getattr(getattr(context, "identity", None), "cognito_identity_id", None),
    }
    return Caller("lambda", {k: str(v) for k, v in details.items() if v})


def refusal(status: int, reason: Reason, detail: str) -> tuple[int, dict[str, Any]]:
    """(status, {"error": code}); the detail goes to the log only."""
    log.warning("decrypt request refused: %s (%d): %s", reason, status, detail)
    return status, {"error": str(reason)}


def _answer(event: Any, caller: Caller) -> tuple[int, dict[str, Any]]:
    """(HTTP-like status, answer) for a direct-invoke event."""
    try:
        request = parse_request(event)
    except BadRequest as e:
        return refusal(400, Reason.BAD_EVENT, str(e))
    try:
        service = _service()
    except DecryptorConfigError as e:
        return refusal(500, Reason.CONFIG_ERROR, f"config: {e}")
    except KeystoreError as e:
        return refusal(500, Reason.CONFIG_ERROR, f"keystore: {e}")
    try:
        return 200, service.run(request, caller)
    except NotIndexed as e:
        return refusal(400, Reason.NOT_INDEXED, str(e))
    except BadRequest as e:
        return refusal(400, Reason.BAD_EVENT, str(e))
    except DecryptorConfigError as e:
        return refusal(500, Reason.CONFIG_ERROR, f"config: {e}")
    except StoreUrlError as e:
        return refusal(500, Reason.CONFIG_ERROR, f"store: {e}")
    except StoreError as e:
        return refusal(503, Reason.STORE_UNAVAILABLE, f"store: {e}")


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Decrypt what the event asks for; see the module docstring for the shapes."""
    kind = apigw.payload_kind(event)
    if kind is None:
        return _answer(event, lambda_caller(context))[1]
    caller = apigw.caller(event, kind, getattr(context, "aws_request_id", None))
    try:
        body = apigw.body(event, kind)
    except apigw.MethodNotAllowed as e:
        return apigw.response(*refusal(405, Reason.METHOD_NOT_ALLOWED, str(e)))
    except BadRequest as e:
        return apigw.response(*refusal(400, Reason.BAD_EVENT, str(e)))
    status, answer = _answer(body, caller)
    return apigw.response(status, answer)
