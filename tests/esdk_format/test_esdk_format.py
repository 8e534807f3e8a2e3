"""The message-format module: suites as the SDK defines them, one header parser/writer, one "is a message"."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from aws_encryption_sdk.identifiers import Algorithm
from cryptography.hazmat.primitives.asymmetric import rsa

import esdk_format
from decryptor import handler
from edge_proxy.encrypting import esdk, esdk_v2
from esdk_format import (
    EncryptedDataKey,
    KeyRef,
    MalformedHeader,
    Suite,
    TooManyDataKeys,
    is_message,
    parse_header,
    read_prefix,
    serialize_header,
)
from origin.ciphertext import encrypted_field_names
from store import SqliteStore, Submission
from tests.fixtures_decryptor import DecryptEnv, proxy_encrypt


def test_exports_are_what_was_meant() -> None:
    assert set(esdk_format.__all__) == {
        name for name in vars(esdk_format) if not name.startswith("_") and name not in _SUBMODULES
    }


_SUBMODULES = {"annotations", "detect", "errors", "header", "suites"}


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.name)
def test_every_suite_as_the_sdk_defines_it(algorithm: Algorithm) -> None:
    suite = Suite(algorithm.algorithm_id)
    assert suite.name == algorithm.name
    assert suite.message_version == algorithm.message_format_version
    assert suite.key_length == algorithm.data_key_len
    assert suite.committing == algorithm.is_committing()
    kdf = suite.kdf
    assert (type(kdf) if kdf else None) == algorithm.kdf_hash_type
    curve = algorithm.signing_algorithm_info
    assert suite.signature_curve == (
        {"secp256r1": "P-256", "secp384r1": "P-384"}[curve.name] if curve else None
    )
    assert suite.wire == algorithm.id_as_bytes() and suite.hex_id == f"0x{algorithm.algorithm_id:04X}"


def test_no_suite_the_sdk_does_not_know() -> None:
    assert {int(s) for s in Suite} == {a.algorithm_id for a in Algorithm}
    assert esdk.SUITE_ID == 0x0178 and esdk_v2.SUITE_ID == 0x0478  # IntEnum: still equal to the bare ids
    with pytest.raises(ValueError, match="unknown algorithm suite '0x0999'; known: 0x0014"):
        esdk_format.parse_suite("0x0999")
    with pytest.raises(ValueError, match="not a hex id"):
        esdk_format.parse_suite("AES")


@pytest.mark.parametrize("writer", [esdk, esdk_v2], ids=["v1", "v2"])
def test_the_edge_messages_parse_back(writer: object, rsa_key: rsa.RSAPrivateKey) -> None:
    key = esdk.FieldKey(rsa_key.public_key(), b"FLEDemo", b"DemoPublicKey")
    message = writer.encrypt(b"404-555-0150", key)  # type: ignore[attr-defined]
    header = parse_header(message)
    assert header.suite == writer.SUITE_ID and header.version == Suite(header.suite).message_version  # type: ignore[attr-defined]
    (edk,) = header.data_keys
    assert edk.ref == KeyRef("FLEDemo", "DemoPublicKey") and edk.names(KeyRef("FLEDemo", "DemoPublicKey"))
    assert len(edk.wrapped) == 256
    # the writer is the inverse of the parser: the same fields give the same header bytes
    rebuilt = serialize_header(header.suite, header.message_id, header.data_keys, 4096, header.commitment)
    assert rebuilt == header.body_with(header.data_keys)
    assert message.startswith(rebuilt) and len(header.header_tag) == 16
    prefix = read_prefix(message, max_data_keys=1)
    assert (prefix.suite, prefix.data_keys, prefix.message_id) == (
        header.suite,
        header.data_keys,
        header.message_id,
    )


def test_header_errors(rsa_key: rsa.RSAPrivateKey) -> None:
    key = esdk.FieldKey(rsa_key.public_key(), b"P", b"K")
    message = esdk.encrypt(b"x", key)
    with pytest.raises(MalformedHeader, match="header truncated"):
        parse_header(message[:40])
    with pytest.raises(MalformedHeader, match="unknown message format version 3"):
        read_prefix(b"\x03" + message[1:])
    with pytest.raises(MalformedHeader, match="message type is not 0x80"):
        read_prefix(b"\x01\x81" + message[2:])
    two = serialize_header(Suite(0x0178), bytes(16), [EncryptedDataKey(b"P", b"K", b"w")] * 2, 4096)
    with pytest.raises(TooManyDataKeys, match="message has 2 encrypted data keys; at most 1 accepted"):
        read_prefix(two, max_data_keys=1)
    with pytest.raises(MalformedHeader, match="no encrypted data keys"):
        read_prefix(serialize_header(Suite(0x0178), bytes(16), [], 4096))
    with pytest.raises(ValueError, match="message id is 32 bytes"):
        serialize_header(Suite(0x0478), bytes(16), [], 4096, bytes(32))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def edge_cases(real: str) -> dict[str, tuple[str, bool]]:
    """Values on which the origin's and the decryptor's old checks disagreed, and the one answer now."""
    return {
        "a real message": (real, True),
        "broken base64 after the first 8 characters": (
            real[:48] + "!!!!" + real[52:],
            False,
        ),  # old decryptor: yes
        "length not a multiple of 4": (real[:-1], False),  # old decryptor: yes
        "non-ASCII text after a message start": (real[:40] + "☎☎☎☎", False),  # old decryptor: yes
        "version 2 with suite 0x0000": (_b64(b"\x02" + bytes(60)), False),  # both old checks: yes
        "version 1 with an unknown suite": (_b64(b"\x01\x80\x09\x99" + bytes(60)), False),  # both: yes
        "version 1 carrying a v2 suite": (_b64(b"\x01\x80\x04\x78" + bytes(60)), False),  # both: yes
        "version 2 carrying 0x0478": (_b64(b"\x02\x04\x78" + bytes(60)), True),
        "a phone number": ("404-555-0150", False),
        "too short": (real[:36], False),
    }


def test_is_a_message_edge_cases(rsa_key: rsa.RSAPrivateKey) -> None:
    for name, (value, expected) in edge_cases(proxy_encrypt(rsa_key, b"x")).items():
        assert is_message(value) is expected, name
    assert not is_message(7) and not is_message(None)


def test_the_origin_uses_the_one_check(rsa_key: rsa.RSAPrivateKey) -> None:
    cases = edge_cases(proxy_encrypt(rsa_key, b"x"))
    fields = {name: value for name, (value, _) in cases.items()}
    assert encrypted_field_names(fields) == tuple(name for name, (_, yes) in cases.items() if yes)


@pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)
async def test_the_decryptor_uses_the_one_check(decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey) -> None:
    """A stored field is decrypted (or refused) when it is a message, and handed back as stored otherwise."""
    cases = edge_cases(proxy_encrypt(rsa_key, b"404-555-0150"))
    item = Submission(fields={name: value for name, (value, _) in cases.items()})
    store = SqliteStore(decrypt_env.store_path)
    await store.put(item)
    await store.close()
    result = await asyncio.to_thread(handler.lambda_handler, {"ids": [item.id]}, None)
    (answer,) = result["items"]
    attempted = {json.loads(line)["field"] for line in decrypt_env.audit_lines()}
    assert attempted == {name for name, (_, yes) in cases.items() if yes}
    assert answer["fields"]["a real message"] == "404-555-0150"
    for name, (value, yes) in cases.items():
        if not yes:
            assert answer["fields"][name] == value and name not in answer["errors"], name


@pytest.mark.parametrize("suite", [Suite(0x0178), Suite(0x0478)], ids=lambda s: s.hex_id)
def test_the_edge_header_writer_is_serialize_header_packed_once(suite: Suite) -> None:
    """The edge's per-key writer gives the bytes serialize_header gives, for any id, key and commitment."""
    writer = esdk_format.OneKeyHeader(suite, b"FLEDemo", b"DemoPublicKey", 4096)
    id_length = 32 if suite.committing else 16
    for seed in range(3):
        message_id = bytes([seed + 1]) * id_length
        wrapped = bytes([seed + 7]) * (256 + seed)
        commitment = bytes([seed + 9]) * 32 if suite.committing else b""
        expected = serialize_header(
            suite, message_id, (EncryptedDataKey(b"FLEDemo", b"DemoPublicKey", wrapped),), 4096, commitment
        )
        assert writer.serialize(message_id, wrapped, commitment) == expected
