"""API Gateway proxy integration: REST API (payload v1) and HTTP API (payload v2) events and answers.

A POST whose JSON body is one of the direct-invoke events (see events.py) is answered with
`statusCode`, headers and a JSON body: 200 with the same answer a direct invoke gets (per-value errors
inside), 400 with {"error": "bad_event"} for a bad request, 405 ("method_not_allowed") for another
method, 500 ("config_error") / 503 ("store_unavailable") when the keystore or the store cannot be used.
The words of BadRequest go to the log (handler.refusal), never into the answer. The caller's identity
for the audit log comes from `requestContext`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .audit import Caller
from .errors import BadRequest

REST = "apigateway-rest"
HTTP = "apigateway-http"
HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


class MethodNotAllowed(BadRequest):
    """The request is not a POST."""


def payload_kind(event: Any) -> str | None:
    """REST or HTTP for an API Gateway proxy event, None for a direct invoke."""
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        return None
    if event.get("version") == "2.0" and isinstance(event["requestContext"].get("http"), dict):
        return HTTP
    if "httpMethod" in event:
        return REST
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(source: Any, names: dict[str, str]) -> dict[str, str]:
    """`{ours: source[theirs]}` for the values present and textual."""
    if not isinstance(source, dict):
        return {}
    return {
        ours: str(source[theirs]) for ours, theirs in names.items() if source.get(theirs) not in (None, "")
    }


def caller(event: dict[str, Any], kind: str, lambda_request_id: str | None) -> Caller:
    """Who called, as far as API Gateway says (IAM user, authorizer principal, JWT subject, source IP)."""
    context = event["requestContext"]
    details = _strings(context, {"request_id": "requestId", "api_id": "apiId", "stage": "stage"})
    authorizer = _dict(context.get("authorizer"))
    if kind == REST:
        details |= _strings(
            context.get("identity"),
            {
                "source_ip": "sourceIp",
                "user_agent": "userAgent",
                "user_arn": "userArn",
                "iam_caller": "caller",
                "account_id": "accountId",
                "cognito_identity_id": "cognitoIdentityId",
            },
        )
        details |= _strings(authorizer, {"principal_id": "principalId"})
        details |= _strings(authorizer.get("claims"), {"jwt_sub": "sub"})
    else:
        details |= _strings(context["http"], {"source_ip": "sourceIp", "user_agent": "userAgent"})
        details |= _strings(authorizer.get("iam"), {"user_arn": "userArn", "iam_caller": "callerId"})
        details |= _strings(_dict(authorizer.get("jwt")).get("claims"), {"jwt_sub": "sub"})
        details |= _strings(authorizer.get("lambda"), {"principal_id": "principalId"})
    if lambda_request_id:
        details["lambda_request_id"] = lambda_request_id
    return Caller(kind, details)


def method(event: dict[str, Any], kind: str) -> str:
    return str(
        event["requestContext"]["http"].get("method", "") if kind == HTTP else event.get("httpMethod", "")
    )


def body(event: dict[str, Any], kind: str) -> Any:
    """The JSON body of a POST; MethodNotAllowed or BadRequest with the reason otherwise."""
    if method(event, kind).upper() != "POST":
        raise MethodNotAllowed("use POST with a JSON body")
    raw = event.get("body")
    if not raw:
        raise BadRequest('expected a JSON body such as {"recent": 5}')
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as e:
            raise BadRequest("the body is not base64 of UTF-8 text") from e
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError) as e:
        raise BadRequest(f"the body is not JSON: {e}") from e


def response(status: int, answer: dict[str, Any]) -> dict[str, Any]:
    """A proxy-integration answer; the same shape suits payload v1 and v2."""
    return {
        "statusCode": status,
        "headers": dict(HEADERS),
        "body": json.dumps(answer, ensure_ascii=False),
        "isBase64Encoded": False,
    }
