"""API Gateway proxy events, REST (payload v1) and HTTP API (payload v2), against each keystore backend."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import handler
from store import SqliteStore, Submission
from tests.fixtures_decryptor import (
    BEFORE_ANY_BACKEND,
    DecryptEnv,
    logged_refusal,
    proxy_encrypt,
    refused_details,
)


def rest_event(body: str | None, method: str = "POST", base64_body: bool = False) -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it (trimmed to the keys Lambda always gets)."""
    return {
        "resource": "/decrypt",
        "path": "/decrypt",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "stage": "prod",
            "requestId": "rest-req-1",
            "httpMethod": method,
            "identity": {
                "sourceIp": "198.51.100.7",
                "userAgent": "curl/8",
                "userArn": "arn:aws:iam::123456789012:user/alice",
                "caller": "AIDAEXAMPLE",
                "accountId": "123456789012",
                "cognitoIdentityId": None,
            },
            "authorizer": None,
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body and body else body,
        "isBase64Encoded": base64_body,
    }


def http_event(body: str | None, method: str = "POST") -> dict[str, Any]:
    """An HTTP API (payload 2.0) event with a JWT authorizer."""
    return {
        "version": "2.0",
        "routeKey": "POST /decrypt",
        "rawPath": "/decrypt",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "d4e5f6",
            "stage": "$default",
            "requestId": "http-req-1",
            "authorizer": {"jwt": {"claims": {"sub": "user-42", "email": "ops@example.org"}, "scopes": None}},
            "http": {
                "method": method,
                "path": "/decrypt",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8",
            },
        },
        "body": body,
        "isBase64Encoded": False,
    }


class Context:
    aws_request_id = "lambda-req-9"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fle-decrypt"


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handler.lambda_handler(event, Context())
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert response["isBase64Encoded"] is False
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("make_event", [rest_event, http_event], ids=["rest-v1", "http-v2"])
async def test_each_event_shape_through_api_gateway(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, make_event: Any
) -> None:
    item = Submission(fields={"name": "Jane", "phone": proxy_encrypt(rsa_key, b"404-555-0150")})
    store = SqliteStore(decrypt_env.store_path)
    await store.put(item)
    await store.close()
    value = proxy_encrypt(rsa_key, b"555-0199")
    status, body = call(make_event(json.dumps({"ciphertexts": [value, "%%%"]})))
    assert (status, body) == (200, {"results": [{"plaintext": "555-0199"}, {"error": "not_a_message"}]})
    assert refused_details(decrypt_env)[1] == ("not_a_message", "not standard base64")
    for request in ({"ids": [item.id]}, {"recent": 1}):
        status, body = await asyncio.to_thread(call, make_event(json.dumps(request)))
        assert status == 200
        assert body["items"][0]["fields"] == {"name": "Jane", "phone": "404-555-0150"}


def test_base64_encoded_body(decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey) -> None:
    event = rest_event(json.dumps({"ciphertexts": [proxy_encrypt(rsa_key, b"x")]}), base64_body=True)
    assert call(event) == (200, {"results": [{"plaintext": "x"}]})


@BEFORE_ANY_BACKEND
@pytest.mark.parametrize("make_event", [rest_event, http_event], ids=["rest-v1", "http-v2"])
@pytest.mark.parametrize(
    ("body", "method", "status", "code", "reason"),
    [
        (None, "POST", 400, "bad_event", "expected a JSON body"),
        ("{not json", "POST", 400, "bad_event", "the body is not JSON"),
        ('{"recent": 0}', "POST", 400, "bad_event", '"recent" must be an integer'),
        ('{"ids": "x"}', "POST", 400, "bad_event", "'ids' must be a list"),
        ("[1, 2]", "POST", 400, "bad_event", "exactly one of"),
        ('{"recent": 1}', "GET", 405, "method_not_allowed", "use POST"),
    ],
)
def test_bad_requests_get_400_with_a_reason(
    decrypt_env: DecryptEnv,
    caplog: pytest.LogCaptureFixture,
    make_event: Any,
    body: str | None,
    method: str,
    status: int,
    code: str,
    reason: str,
) -> None:
    """The caller gets the code, the log the words."""
    assert call(make_event(body, method)) == (status, {"error": code})
    assert reason in logged_refusal(caplog)


@BEFORE_ANY_BACKEND
def test_undecodable_base64_body(decrypt_env: DecryptEnv, caplog: pytest.LogCaptureFixture) -> None:
    event = rest_event("{}")
    event.update(body="%%%", isBase64Encoded=True)
    assert call(event) == (400, {"error": "bad_event"})
    assert "the body is not base64 of UTF-8 text" in logged_refusal(caplog)


@BEFORE_ANY_BACKEND
def test_server_side_problems_are_5xx(
    decrypt_env: DecryptEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLE_STORE", "sqlite:///")
    assert call(http_event('{"recent": 1}')) == (500, {"error": "config_error"})
    assert "store: 'sqlite:///': a SQLite store needs a path" in logged_refusal(caplog)
    monkeypatch.delenv("FLE_KEYSTORE")
    assert call(http_event('{"recent": 1}')) == (500, {"error": "config_error"})
    assert "FLE_KEYSTORE" in logged_refusal(caplog)


@BEFORE_ANY_BACKEND
def test_store_unavailable_is_503(
    decrypt_env: DecryptEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    directory = decrypt_env.store_path.parent / "not-a-db"
    directory.mkdir()
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{directory}")
    assert call(rest_event('{"recent": 1}')) == (503, {"error": "store_unavailable"})
    detail = logged_refusal(caplog)
    assert "store: cannot open SQLite store" in detail
    assert str(directory) in detail  # the path is for the operator's log, never the answer


def test_caller_identity_from_the_request_context(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey
) -> None:
    value = proxy_encrypt(rsa_key, b"x")
    call(rest_event(json.dumps({"ciphertexts": [value]})))
    call(http_event(json.dumps({"ciphertexts": [value]})))
    rest, http = (json.loads(line)["caller"] for line in decrypt_env.audit_lines())
    assert rest == {
        "source": "apigateway-rest",
        "request_id": "rest-req-1",
        "api_id": "a1b2c3",
        "stage": "prod",
        "source_ip": "198.51.100.7",
        "user_agent": "curl/8",
        "user_arn": "arn:aws:iam::123456789012:user/alice",
        "iam_caller": "AIDAEXAMPLE",
        "account_id": "123456789012",
        "lambda_request_id": "lambda-req-9",
    }
    assert http == {
        "source": "apigateway-http",
        "request_id": "http-req-1",
        "api_id": "d4e5f6",
        "stage": "$default",
        "source_ip": "203.0.113.9",
        "user_agent": "curl/8",
        "jwt_sub": "user-42",
        "lambda_request_id": "lambda-req-9",
    }
