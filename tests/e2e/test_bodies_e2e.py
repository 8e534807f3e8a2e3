"""JSON and multipart bodies through a real proxy on loopback to an origin that records what it gets.

aws-encryption-sdk (and the project's own decryptor) decrypt what arrives; everything else must arrive
exactly as the client sent it, and a body the proxy refuses must never reach the origin.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import aws_encryption_sdk
import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from decryptor.core import Decryptor
from edge_proxy import ProxySettings, build_app
from keystore import Keystore
from profiles import FleConfig, load_config_dir
from tests.helpers import edit_json, make_config_dir, raw_master_key, serving, write_file_keystore

STRICT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
ALLOW = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)


def _profile_file(directory: Path, profile_id: str, patterns: list[str], suite: str | None) -> None:
    config: dict = {  # type: ignore[type-arg]
        "Name": profile_id,
        "CallerReference": profile_id,
        "EncryptionEntities": {
            "Quantity": 1,
            "Items": [
                {
                    "PublicKeyId": "K3D5EWEUDCCXON",
                    "ProviderId": "FLEDemo",
                    "FieldPatterns": {"Quantity": len(patterns), "Items": patterns},
                }
            ],
        },
    }
    if suite:
        config["Fle:AlgorithmSuite"] = suite
    document = {
        "FieldLevelEncryptionProfile": {"Id": profile_id, "FieldLevelEncryptionProfileConfig": config}
    }
    (directory / f"{profile_id}.json").write_text(json.dumps(document))


def body_config(directory: Path, key: rsa.RSAPrivateKey) -> FleConfig:
    """The sample config plus a JSON profile (suite 0x0478) and a multipart profile (suite 0x0178)."""
    make_config_dir(directory, key)
    _profile_file(directory, "PJSON", ["/card/number", "/travellers/*/passport", "/payment/*"], "0x0478")
    _profile_file(directory, "PMULTI", ["card", "passport*"], None)

    def add_mappings(document: dict) -> None:  # type: ignore[type-arg]
        profiles = document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"]
        profiles["ContentTypeProfiles"]["Items"] += [
            {"Format": "JSON", "ProfileId": "PJSON", "ContentType": "application/json"},
            {"Format": "JSON", "ProfileId": "PJSON", "ContentType": "application/vnd.api+json"},
            {"Format": "Multipart", "ProfileId": "PMULTI", "ContentType": "multipart/form-data"},
        ]
        profiles["ContentTypeProfiles"]["Quantity"] = 4

    edit_json(directory / "config.json", add_mappings)
    return load_config_dir(directory).only_config()


@dataclass
class Seen:
    """What the origin received: (Content-Type, raw body, parsed form fields for multipart)."""

    requests: list[tuple[str, bytes, dict[str, object]]] = field(default_factory=list)


async def parse_multipart(raw: bytes, content_type: str) -> dict[str, object]:
    """aiohttp's own multipart parser (what an aiohttp origin's request.post() runs) over the raw body."""
    stream = StreamReader(BaseProtocol(asyncio.get_running_loop()), 2**16, loop=asyncio.get_running_loop())
    stream.feed_data(raw)
    stream.feed_eof()
    reader = aiohttp.MultipartReader({"Content-Type": content_type}, stream)
    fields: dict[str, object] = {}
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader) and part.name is not None
        data = bytes(await part.read())
        fields[part.name] = (part.filename, data) if part.filename is not None else data.decode()
    return fields


def capturing_origin(seen: Seen) -> web.Application:
    async def record(request: web.Request) -> web.Response:
        raw = await request.read()
        content_type = request.headers.get("Content-Type", "")
        fields = (
            await parse_multipart(raw, content_type) if request.content_type == "multipart/form-data" else {}
        )
        seen.requests.append((content_type, raw, fields))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


@dataclass
class Stack:
    proxy: str
    seen: Seen


@pytest.fixture
async def stack(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[Stack]:
    config = body_config(tmp_path / "config", rsa_key)
    seen = Seen()
    async with serving(capturing_origin(seen)) as origin_url:
        async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            yield Stack(proxy_url, seen)


def sdk_decrypt(value: str, key: rsa.RSAPrivateKey, client=ALLOW) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    plaintext, header = client.decrypt(
        source=base64.b64decode(value, validate=True), key_provider=raw_master_key(key)
    )
    return plaintext, header.algorithm.algorithm_id


async def test_json_api_request_arrives_encrypted_with_the_rest_unchanged(
    stack: Stack, rsa_key: rsa.RSAPrivateKey
) -> None:
    body = (
        b'{"order": 17, "card": {"number": "4111 1111 1111 1111", "holder": "Jane"},\n'
        b' "travellers": [{"name": "A", "passport": "X123"}, {"name": "B", "passport": 99}],\n'
        b' "payment": {"method": "card", "saved": false}}'
    )
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        async with session.post(f"{stack.proxy}/api/orders", data=body, headers=headers) as response:
            assert response.status == 200
    [(content_type, raw, _)] = stack.seen.requests
    assert content_type == "application/json; charset=utf-8"
    assert b"4111" not in raw and b"X123" not in raw
    doc = json.loads(raw)
    assert doc["order"] == 17 and doc["card"]["holder"] == "Jane"
    assert [t["name"] for t in doc["travellers"]] == ["A", "B"]
    assert sdk_decrypt(doc["card"]["number"], rsa_key, STRICT) == (b"4111 1111 1111 1111", 0x0478)
    assert sdk_decrypt(doc["travellers"][0]["passport"], rsa_key, STRICT)[0] == b"X123"
    assert sdk_decrypt(doc["travellers"][1]["passport"], rsa_key, STRICT)[0] == b"99"
    assert sdk_decrypt(doc["payment"]["method"], rsa_key, STRICT)[0] == b"card"
    assert sdk_decrypt(doc["payment"]["saved"], rsa_key, STRICT)[0] == b"false"
    assert raw.startswith(b'{"order": 17, "card": {"number": "') and raw.endswith(b'"}}')


async def test_plus_json_media_type_uses_the_json_profile(stack: Stack, rsa_key: rsa.RSAPrivateKey) -> None:
    async with aiohttp.ClientSession() as session:
        body = json.dumps({"card": {"number": "5500"}})
        headers = {"Content-Type": "application/vnd.api+json"}
        async with session.post(f"{stack.proxy}/x", data=body, headers=headers) as response:
            assert response.status == 200
    [(_, raw, _)] = stack.seen.requests
    assert sdk_decrypt(json.loads(raw)["card"]["number"], rsa_key)[0] == b"5500"


class _Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


async def test_multipart_upload_arrives_encrypted_with_the_rest_unchanged(
    stack: Stack, rsa_key: rsa.RSAPrivateKey
) -> None:
    photo = bytes(range(256)) * 200  # 51 KB, not named by the profile: passes untouched
    scan = b"%PDF-1.7 " + bytes(range(256)) * 40
    writer = aiohttp.MultipartWriter("form-data")  # the client's own encoder, serialised to see its bytes
    for name, value, filename, content_type in [
        ("name", b"Jane Doe", None, "text/plain"),
        ("card", b"4111 1111 1111 1111", None, "text/plain"),
        ("passport_scan", scan, "scan.pdf", "application/pdf"),
        ("photo", photo, "me.jpg", "image/jpeg"),
    ]:
        part = writer.append(value, {"Content-Type": content_type})
        part.set_content_disposition("form-data", name=name, **({"filename": filename} if filename else {}))
    sent = _Collect()
    await writer.write(sent)
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": writer.content_type}
        async with session.post(f"{stack.proxy}/upload", data=bytes(sent.data), headers=headers) as response:
            assert response.status == 200
    [(content_type, raw, fields)] = stack.seen.requests
    assert content_type == writer.content_type
    assert b"4111" not in raw and b"%PDF" not in raw
    assert fields["name"] == "Jane Doe"
    assert fields["photo"] == ("me.jpg", photo)
    assert sdk_decrypt(fields["card"], rsa_key) == (b"4111 1111 1111 1111", 0x0178)  # type: ignore[arg-type]
    filename, ciphertext = fields["passport_scan"]  # type: ignore[misc]
    assert filename == "scan.pdf"
    assert sdk_decrypt(ciphertext.decode(), rsa_key)[0] == scan
    # Every byte but the two protected contents is what the client sent.
    restored = raw.replace(ciphertext, scan).replace(fields["card"].encode(), b"4111 1111 1111 1111")  # type: ignore[union-attr]
    assert restored == bytes(sent.data)


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/json", b'{"card": {"number": "4111"', "InvalidJsonClientError"),
        ("application/json", b'{"card": {"number": "4111", "number": "1"}}', "DuplicateJsonKeyClientError"),
        ("application/json", b"[" * 200 + b"]" * 200, "JsonDepthLimitClientError"),
        (
            "application/json; charset=iso-8859-1",
            b'{"card": {"number": "4111"}}',
            "UnsupportedCharsetClientError",
        ),
        (
            "multipart/form-data; boundary=XX",
            b'--XX\r\nContent-Disposition: form-data; name="card"\r\n\r\n4111',
            "MalformedMultipartClientError",
        ),
        (
            "multipart/form-data",
            b'--XX\r\nContent-Disposition: form-data; name="card"\r\n\r\n4111\r\n--XX--',
            "MalformedMultipartClientError",
        ),
    ],
)
async def test_invalid_bodies_are_refused_and_never_forwarded(
    stack: Stack, content_type: str, body: bytes, reason: str
) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": content_type}
        async with session.post(f"{stack.proxy}/api", data=body, headers=headers) as response:
            assert response.status in (400, 415)
            assert (await response.json())["error"] == reason
    assert stack.seen.requests == []


async def test_a_json_profile_is_refused_for_a_form_through_the_query_argument(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    make_config_dir(tmp_path, rsa_key)
    _profile_file(tmp_path, "PJSON", ["/card/number"], None)

    def add(document: dict) -> None:  # type: ignore[type-arg]
        config = document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]
        config["QueryArgProfileConfig"]["QueryArgProfiles"] = {
            "Quantity": 1,
            "Items": [{"QueryArg": "api", "ProfileId": "PJSON"}],
        }
        config["ContentTypeProfileConfig"]["ContentTypeProfiles"]["Items"].append(
            {"Format": "JSON", "ProfileId": "PJSON", "ContentType": "application/json"}
        )
        config["ContentTypeProfileConfig"]["ContentTypeProfiles"]["Quantity"] = 2

    edit_json(tmp_path / "config.json", add)
    config = load_config_dir(tmp_path).only_config()
    seen = Seen()
    async with serving(capturing_origin(seen)) as origin_url:
        async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            async with aiohttp.ClientSession() as session:
                url = f"{proxy_url}/submit?fle-profile=api"
                async with session.post(url, data={"phone": "404-555-0150"}) as response:
                    assert response.status == 400
                    assert (await response.json())["error"] == "ProfileFormatMismatchClientError"
    assert seen.requests == []


async def test_the_decryptor_accepts_the_committing_suite(
    stack: Stack, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{stack.proxy}/a", json={"card": {"number": "4111"}}) as response:
            assert response.status == 200
    value = json.loads(stack.seen.requests[0][1])["card"]["number"]
    assert base64.b64decode(value)[:3] == b"\x02\x04\x78"
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    decryptor = Decryptor(Keystore.from_file(write_file_keystore(tmp_path / "ks", rsa_key, "pw")))
    decrypted = await asyncio.to_thread(decryptor.decrypt, value)
    assert (decrypted.plaintext, decrypted.suite) == (b"4111", 0x0478)


# --- property through the real proxy: the servers run in a thread, hypothesis drives a plain client ---


@dataclass
class ThreadedStack:
    proxy: str
    seen: Seen


@pytest.fixture(scope="module")
def threaded_stack(
    tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey
) -> Iterator[ThreadedStack]:
    config = body_config(tmp_path_factory.mktemp("config"), rsa_key)
    seen = Seen()
    ready: list[str] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = loop.create_future()

    async def run() -> None:
        async with serving(capturing_origin(seen)) as origin_url:
            async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
                ready.append(proxy_url)
                started.set()
                await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(30), "the proxy did not start"
    yield ThreadedStack(ready[0], seen)
    loop.call_soon_threadsafe(stop.set_result, None)
    thread.join(30)
    loop.close()


def post(url: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
DOCS = st.dictionaries(
    st.sampled_from(["card", "travellers", "payment", "other", "number"]),
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["number", "passport", "x"]), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(DOCS)
def test_property_json_through_the_proxy_keeps_every_unprotected_value(
    threaded_stack: ThreadedStack,
    rsa_key: rsa.RSAPrivateKey,
    doc: dict,  # type: ignore[type-arg]
) -> None:
    threaded_stack.seen.requests.clear()
    body = json.dumps(doc).encode()
    status = post(f"{threaded_stack.proxy}/p", body, "application/json")
    if status == 400:  # more than 10 protected values: refused, and nothing may have been forwarded
        assert threaded_stack.seen.requests == []
        return
    assert status == 200
    [(_, raw, _)] = threaded_stack.seen.requests
    after = json.loads(raw)
    assert after.keys() == doc.keys()
    for key, value in doc.items():
        got = after[key]
        if key == "card" and isinstance(value, dict) and "number" in value:
            assert sdk_decrypt(got.pop("number"), rsa_key)[0] == as_sent(value["number"])
            value = {k: v for k, v in value.items() if k != "number"}
        elif key in ("payment", "travellers") and isinstance(value, (dict, list)):
            members = list(value.values() if isinstance(value, dict) else value)
            got_members = list(got.values() if isinstance(got, dict) else got)
            for original, sealed in zip(members, got_members, strict=True):
                if key == "payment":
                    assert sdk_decrypt(sealed, rsa_key)[0] == as_sent(original)
                    continue
                if isinstance(original, dict) and "passport" in original:
                    assert sdk_decrypt(sealed.pop("passport"), rsa_key)[0] == as_sent(original["passport"])
                    original = {k: v for k, v in original.items() if k != "passport"}
                assert sealed == original
            continue
        assert got == value


def as_sent(value: object) -> bytes:
    """What the proxy encrypts: a string's text, or any other value's JSON text as json.dumps wrote it."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()
