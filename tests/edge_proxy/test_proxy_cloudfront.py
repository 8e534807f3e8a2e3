"""CloudFront field-level encryption semantics through the proxy, on real sockets, behind the canary.

Each test names the behaviour it checks; docs/cloudfront.md lists them with the CloudFront page each comes
from. Every protected value is registered with the canary, which fails the test if it ever arrives.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Limits
from profiles import ConfigError, load_config_dir
from tests.fixtures_proxy import (
    FORM,
    Canary,
    cf_config,
    cf_profile,
    cf_public_key,
    proxy_stack,
    write_config_dir,
)
from tests.helpers import raw_master_key

SDK = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)


def decrypt(value: str, key: rsa.RSAPrivateKey, provider: str, name: str) -> bytes:
    plaintext, header = SDK.decrypt(
        source=base64.b64decode(value), key_provider=raw_master_key(key, provider, name)
    )
    assert header.algorithm.algorithm_id == 0x0178
    return plaintext


@pytest.fixture
def two_entity_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> Path:
    """Profile P1: `phone` under key A/provider Alpha, `card*` under key B/provider Beta.
    Profile P2 (query arg `ssn`): `ssn` under key A. Custom type `application/vnd.acme.form` -> P1,
    `text/plain` listed without a profile (forwarded as is)."""
    return write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_public_key("KB", "KeyB", other_rsa_key),
        cf_profile("P1", [("KA", "Alpha", ["phone"]), ("KB", "Beta", ["card*"])]),
        cf_profile("P2", [("KA", "Alpha", ["ssn"])]),
        cf_config(
            "C1",
            [(FORM, "P1"), ("application/vnd.acme.form", "P1"), ("text/plain", None)],
            query_args=[("ssn-profile", "P2")],
        ),
    )


async def post(url: str, body: bytes | str, content_type: str | None = FORM, method: str = "POST", **kw):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(kw.pop("headers", {}))
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session:
        async with session.request(method, url, data=body, headers=headers, **kw) as response:
            return response.status, await response.read()


async def test_several_entities_each_with_its_own_key_and_provider(
    canary: Canary, two_entity_dir: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    canary.protect("404-555-0150", "4111111111111111", "12/29")
    async with proxy_stack(canary, two_entity_dir) as stack:
        body = "name=Jane&phone=404-555-0150&card[number]=4111111111111111&card[exp]=12%2F29&Card=x"
        status, _ = await post(f"{stack.url}/submit", body)
    assert status == 200
    fields = parse_qsl(canary.last.body.decode())
    values = dict(fields)
    assert values["name"] == "Jane"
    # `Card` is not CloudFront's `card*`, but ASP.NET reads form keys case-insensitively (fields/names.py)
    assert decrypt(values["Card"], other_rsa_key, "Beta", "KeyB") == b"x"
    assert decrypt(values["phone"], rsa_key, "Alpha", "KeyA") == b"404-555-0150"
    assert decrypt(values["card[number]"], other_rsa_key, "Beta", "KeyB") == b"4111111111111111"
    assert decrypt(values["card[exp]"], other_rsa_key, "Beta", "KeyB") == b"12/29"


@pytest.mark.parametrize(
    "content_type",
    [
        FORM,
        "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
        "application/vnd.acme.form",
        "APPLICATION/VND.ACME.FORM;Charset=utf-8",
    ],
)
async def test_content_types_compared_case_insensitively_without_parameters_and_custom_types(
    canary: Canary, two_entity_dir: Path, content_type: str
) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(canary, two_entity_dir) as stack:
        status, _ = await post(f"{stack.url}/x", "phone=404-555-0150", content_type)
    assert status == 200 and b"phone=AYAB" in canary.last.body


@pytest.mark.parametrize(
    ("content_type", "status", "reason"),
    [
        ("application/vnd.acme.form;x=1", 400, "MalformedContentTypeClientError"),  # not on the allow-list
        (FORM + "; charset=utf8", 415, "UnsupportedCharsetClientError"),  # UTF-8 is spelled utf-8
        (FORM + '; charset="utf\\-8"', 400, "MalformedContentTypeClientError"),
    ],
)
async def test_content_type_parameters_under_a_profile_are_allow_listed(
    canary: Canary, two_entity_dir: Path, content_type: str, status: int, reason: str
) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(canary, two_entity_dir) as stack:
        got, answer = await post(f"{stack.url}/x", "phone=404-555-0150", content_type)
    assert (got, json.loads(answer)["error"]) == (status, reason) and canary.received == []


async def test_listed_type_without_profile_is_forwarded_and_unknown_type_refused(
    canary: Canary, two_entity_dir: Path
) -> None:
    async with proxy_stack(canary, two_entity_dir) as stack:
        status, _ = await post(f"{stack.url}/x", "phone=1", "text/plain")
        assert status == 200 and canary.last.body == b"phone=1"
        canary.protect("404-555-0150")
        for content_type in ("application/json", None):
            status, answer = await post(f"{stack.url}/x", "phone=404-555-0150", content_type)
            assert (status, b"RejectedByContentTypeClientError" in answer) == (400, True)
        status, answer = await post(f"{stack.url}/x", "phone=404-555-0150", "form")
        assert status == 400 and b"MalformedContentTypeClientError" in answer
    assert len(canary.received) == 1


async def test_forward_when_content_type_is_unknown(
    canary: Canary, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    directory = write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "Alpha", ["phone"])]),
        cf_config("C1", [(FORM, "P1")], forward_unknown_content_type=True),
    )
    async with proxy_stack(canary, directory) as stack:
        status, _ = await post(f"{stack.url}/x", b'{"phone": "1"}', "application/json")
        assert status == 200 and canary.last.body == b'{"phone": "1"}'
        canary.protect("404-555-0150")
        status, _ = await post(f"{stack.url}/x", "phone=404-555-0150")
        assert status == 200 and canary.last.body.startswith(b"phone=AYAB")


async def test_query_arg_selects_profile_and_unknown_values(
    canary: Canary, two_entity_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    canary.protect("078-05-1120", "404-555-0150")
    async with proxy_stack(canary, two_entity_dir) as stack:
        status, _ = await post(f"{stack.url}/x?fle-profile=ssn-profile", "ssn=078-05-1120&phone=5")
        assert status == 200
        values = dict(parse_qsl(canary.last.body.decode()))
        assert decrypt(values["ssn"], rsa_key, "Alpha", "KeyA") == b"078-05-1120"
        assert values["phone"] == "5"  # P2 replaces P1 for this request
        status, answer = await post(f"{stack.url}/x?fle-profile=nope", "phone=404-555-0150")
        assert status == 400 and b"RejectedByQueryArgsClientError" in answer
        status, answer = await post(f"{stack.url}/x?fle-profile=ssn-profile&fle-profile=x", "ssn=078-05-1120")
        assert status == 400 and b"MalformedQueryArgsClientError" in answer
        # a profile asked for by query argument is never skipped because the media type is unknown
        status, answer = await post(f"{stack.url}/x?fle-profile=ssn-profile", "ssn=078-05-1120", "text/csv")
        assert status == 400 and b"RejectedByContentTypeClientError" in answer
    assert len(canary.received) == 1


async def test_forward_when_query_arg_profile_is_unknown(
    canary: Canary, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    directory = write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "Alpha", ["phone"])]),
        cf_profile("P2", [("KA", "Alpha", ["ssn"])]),
        cf_config("C1", [(FORM, "P1")], query_args=[("s", "P2")], forward_unknown_query_arg=True),
    )
    canary.protect("404-555-0150")
    async with proxy_stack(canary, directory) as stack:
        status, _ = await post(f"{stack.url}/x?fle-profile=other", "phone=404-555-0150&ssn=1")
    assert status == 200
    assert canary.last.body.startswith(b"phone=AYAB") and canary.last.body.endswith(b"&ssn=1")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_with_a_body_is_encrypted(
    canary: Canary, two_entity_dir: Path, method: str
) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(canary, two_entity_dir) as stack:
        status, _ = await post(f"{stack.url}/x", "phone=404-555-0150", method=method)
    assert status == 200 and canary.last.method == method and canary.last.body.startswith(b"phone=AYAB")


async def test_chunked_request_body_is_encrypted(canary: Canary, two_entity_dir: Path) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for piece in (b"name=a&pho", b"ne=404-5", b"55-0150&x=", b"1"):
            yield piece

    canary.protect("404-555-0150")
    async with proxy_stack(canary, two_entity_dir) as stack:
        status, _ = await post(f"{stack.url}/x", chunks())  # type: ignore[arg-type]
    assert status == 200
    body = canary.last.body
    assert body.startswith(b"name=a&phone=AYAB") and body.endswith(b"&x=1")
    assert canary.last.headers["Content-Length"] == str(len(body))  # recomputed, not chunked


async def test_limits_and_their_status_codes(canary: Canary, two_entity_dir: Path) -> None:
    canary.protect("9" * 40)
    limits = Limits(max_body_bytes=2000, max_field_bytes=32, max_encrypted_fields=3, max_fields=30)
    async with proxy_stack(canary, two_entity_dir, limits=limits) as stack:
        cases = {
            "RequestLengthLimitClientError": "phone=1&pad=" + "x" * 2000,
            "FieldLengthLimitClientError": "phone=" + "9" * 40,
            "FieldNumberLimitClientError": "phone=1&phone=2&card=3&cardx=4",
            "FieldCountLimitClientError": "n=1&" * 30 + "phone=" + "9" * 40,  # counted before any is read
        }
        for reason, body in cases.items():
            status, answer = await post(f"{stack.url}/x", body)
            assert (status, reason) == (400, reason) and reason.encode() in answer
        status, _ = await post(f"{stack.url}/x", "phone=1&phone=2&card=3&" + "n=1&" * 20)
        assert status == 200  # unprotected fields do not count
    assert len(canary.received) == 1


async def test_default_limits_are_cloudfronts(canary: Canary, two_entity_dir: Path) -> None:
    canary.protect("7" * (16 * 1024 + 1))
    async with proxy_stack(canary, two_entity_dir) as stack:
        status, _ = await post(f"{stack.url}/x", "phone=" + "7" * (16 * 1024))
        assert status == 200
        status, answer = await post(f"{stack.url}/x", "phone=" + "7" * (16 * 1024 + 1))
        assert status == 400 and b"FieldLengthLimitClientError" in answer
        status, answer = await post(f"{stack.url}/x", "&".join(["phone=1"] * 11))
        assert status == 400 and b"FieldNumberLimitClientError" in answer
        status, answer = await post(f"{stack.url}/x", "phone=1&p=" + "x" * (1024 * 1024))
        assert status == 400 and b"RequestLengthLimitClientError" in answer
        status, _ = await post(f"{stack.url}/x", "&".join(["n=1"] * 999 + ["phone=1"]))
        assert status == 200
        status, answer = await post(f"{stack.url}/x", "&".join(["n=1"] * 1000 + ["phone=1"]))
        assert status == 400 and b"FieldCountLimitClientError" in answer


def test_config_errors_name_file_and_path(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cases = [
        (
            (
                cf_public_key("KA", "KeyA", rsa_key),
                cf_profile("P1", [("KA", "A", ["ab*"]), ("KA", "B", ["abc"])]),
            ),
            "overlaps",
        ),
        (
            (cf_public_key("KA", "KeyA", rsa_key), cf_profile("P1", [("KX", "A", ["a"])])),
            "names no public key",
        ),
        ((cf_public_key("KA", "KeyA", weak), cf_profile("P1", [("KA", "A", ["a"])])), "at least 2048"),
    ]
    for documents, message in cases:
        directory = write_config_dir(tmp_path / "bad", *documents, cf_config("C1", [(FORM, "P1")]))
        with pytest.raises(ConfigError) as info:
            load_config_dir(directory)
        assert message in str(info.value) and str(directory) in str(info.value) and "$." in str(info.value)
