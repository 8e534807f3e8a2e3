"""The decryptor's `match`: only true matches among colliding candidates, normalization, errors as data,
one audit line per call without plaintext; the handler event and `fle match`."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from aws_encryption_sdk.identifiers import Algorithm
from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex import normalize
from blindindex.keys import IndexKeys
from decryptor import handler
from decryptor.events import MAX_CANDIDATES
from fle import cli
from store import Submission
from tests.decryptor.index_support import (
    all_items,
    audit_records,
    edge_item,
    lookup,
    make_index_keys,
    make_indexed_config,
    put_all,
)
from tests.fixtures_decryptor import DecryptEnv, KeySpec, logged_refusal, proxy_encrypt, sdk_encrypt

FILE_ONLY = pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)
TERM = "+1 (404) 555-0150"
SAME = ["+1 (404) 555-0150", "14045550150", "1 404 555 0150", "+1-404-555-0150", "１４０４５５５０１５０"]


@pytest.fixture
def index_keys(tmp_path: Path) -> IndexKeys:
    return IndexKeys.load(make_index_keys(tmp_path / "index", "pii-2026"))


def others(count: int) -> list[str]:
    return [f"+1 (404) 555-{n:04d}" for n in range(count)]  # 0150 is not among the first 100


def match(field: str, term: object, ids: list[str], **more: Any) -> dict[str, Any]:
    return handler.lambda_handler({"match": {"field": field, "term": term, "ids": ids, **more}}, None)


def assert_no_plaintext(path: Path, *plaintexts: str) -> None:
    text = path.read_text()
    for plaintext in plaintexts:
        assert plaintext not in text


@FILE_ONLY
@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_only_true_matches_among_colliding_candidates(
    decrypt_env: DecryptEnv,
    backend: str,
    index_keys: IndexKeys,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Bits=1: about half of all records share the term's beacon; match keeps exactly the true ones."""
    if backend == "dynamodb":
        monkeypatch.setenv("FLE_STORE", f"dynamodb://{request.getfixturevalue('dynamodb_env')}")
    store_url = os.environ["FLE_STORE"]
    monkeypatch.setenv("FLE_CONFIG", str(make_indexed_config(tmp_path / "config", rsa_key, Bits=1)))
    true = [edge_item(rsa_key, index_keys, phone, bits=1) for phone in SAME]
    old = edge_item(other_rsa_key, index_keys, "404 555 0150", bits=1, key_name="OldKey")  # not equal
    old_true = edge_item(other_rsa_key, index_keys, "+14045550150", bits=1, key_name="OldKey")
    false = [edge_item(rsa_key, index_keys, phone, bits=1) for phone in others(30)]
    asyncio.run(put_all(store_url, [*true, old, old_true, *false]))

    term_beacon = index_keys.beacon("pii-2026", "phone", 1, normalize("digits", TERM))
    candidates = lookup(asyncio.run(all_items(store_url)), [term_beacon])
    expected = sorted(item.id for item in [*true, old_true])
    assert set(expected) <= set(candidates)
    assert len(candidates) > len(expected) + 3  # collisions, as Bits=1 makes them

    answer = match("phone", proxy_encrypt(rsa_key, TERM.encode()), candidates)
    assert answer == {"ids": expected, "errors": []}

    (line,) = audit_records(decrypt_env.audit_path, "fle.match")
    assert line["caller"] == {"source": "local"}
    assert (line["outcome"], line["field"], line["normalize"]) == ("answered", "phone", "digits/1")
    assert (line["candidates"], line["matched"], line["matched_ids"]) == (len(candidates), 6, expected)
    assert line["keys"] == ["FLEDemo/DemoPublicKey", "FLEDemo/OldKey"]  # old_true is under OldKey
    assert line["failures"] == []
    assert len(decrypt_env.audit_lines()) == 1  # one line per call, none per value
    assert_no_plaintext(decrypt_env.audit_path, "14045550150", "4045550150", "555-0150", "555 0150")


@FILE_ONLY
def test_normalizer_named_in_the_request_without_a_config(
    decrypt_env: DecryptEnv, index_keys: IndexKeys, rsa_key: rsa.RSAPrivateKey
) -> None:
    stored = edge_item(rsa_key, index_keys, "+1 (404) 555-0150")
    asyncio.run(put_all(f"sqlite:///{decrypt_env.store_path}", [stored]))
    term = proxy_encrypt(rsa_key, b"14045550150")
    assert match("phone", term, [stored.id], normalize="digits") == {"ids": [stored.id], "errors": []}
    assert match("phone", term, [stored.id], normalize="digits/1") == {"ids": [stored.id], "errors": []}
    assert match("phone", term, [stored.id], normalize="none") == {"ids": [], "errors": []}
    lines = audit_records(decrypt_env.audit_path, "fle.match")
    assert [(x["normalize"], x["matched"]) for x in lines] == [
        ("digits/1", 1),
        ("digits/1", 1),
        ("none/1", 0),
    ]


def tamper(value: str) -> str:
    message = bytearray(base64.b64decode(value))
    message[-5] ^= 0x40
    return base64.b64encode(bytes(message)).decode()


@FILE_ONLY
def test_errors_are_data_in_the_order_asked(
    decrypt_env: DecryptEnv,
    index_keys: IndexKeys,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLE_CONFIG", str(make_indexed_config(tmp_path / "config", rsa_key)))
    monkeypatch.setenv("FLE_ACCEPTED_SUITES", "0x0178")
    good = edge_item(rsa_key, index_keys, TERM)

    def item(value: str) -> Submission:
        return Submission(fields={**good.fields, "phone": value})

    plain = item("14045550150")  # stored in plaintext: never compared, even though it would be equal
    retired = item(proxy_encrypt(rsa_key, b"14045550150", name="RetiredKey"))  # a key not in the keystore
    committed = item(
        sdk_encrypt([KeySpec(rsa_key)], b"14045550150", Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
    )
    tampered = item(tamper(proxy_encrypt(rsa_key, b"14045550150")))
    no_digits = item(proxy_encrypt(rsa_key, b"ask at the desk"))
    no_phone = Submission(fields={"name": "Jane"})
    stored = [good, plain, retired, committed, tampered, no_digits, no_phone]
    asyncio.run(put_all(f"sqlite:///{decrypt_env.store_path}", stored))
    ids = ["0" * 32, plain.id, retired.id, good.id, committed.id, tampered.id, no_digits.id, no_phone.id]

    answer = match("phone", proxy_encrypt(rsa_key, TERM.encode()), ids)
    assert answer == {
        "ids": [good.id],
        "errors": [
            {"id": "0" * 32, "error": "not_found"},
            {"id": plain.id, "error": "not_a_message"},
            {"id": retired.id, "error": "key_unknown"},
            {"id": committed.id, "error": "policy_refused"},
            {"id": tampered.id, "error": "decrypt_failed"},
            {"id": no_digits.id, "error": "not_normalized"},
            {"id": no_phone.id, "error": "no_field"},
        ],
    }
    (line,) = audit_records(decrypt_env.audit_path, "fle.match")
    assert (line["candidates"], line["matched"]) == (8, 1)
    details = {f["id"]: (f["reason"], f["detail"]) for f in line["failures"]}
    assert "no private key for FLEDemo/RetiredKey" in details[retired.id][1]
    assert "0x0478 is not accepted" in details[committed.id][1]
    assert details[no_digits.id] == (
        "not_normalized",
        "normalizer digits/1 refuses the value (or it is not UTF-8)",
    )
    assert_no_plaintext(decrypt_env.audit_path, "14045550150", "ask at the desk", "555-0150")


@FILE_ONLY
@pytest.mark.parametrize(
    ("term", "reason"),
    [
        ("%%%", "not_a_message"),
        (7, "not_a_message"),
        ("retired", "key_unknown"),
        ("no digits", "not_normalized"),
        ("tampered", "decrypt_failed"),
    ],
)
def test_a_term_that_cannot_be_used_decrypts_no_candidate(
    decrypt_env: DecryptEnv,
    index_keys: IndexKeys,
    rsa_key: rsa.RSAPrivateKey,
    term: object,
    reason: str,
) -> None:
    stored = edge_item(rsa_key, index_keys, TERM)
    asyncio.run(put_all(f"sqlite:///{decrypt_env.store_path}", [stored]))
    value = (
        {
            "retired": proxy_encrypt(rsa_key, TERM.encode(), name="RetiredKey"),
            "no digits": proxy_encrypt(rsa_key, b"ask at the desk"),
            "tampered": tamper(proxy_encrypt(rsa_key, TERM.encode())),
        }.get(term, term)
        if isinstance(term, str)
        else term
    )  # type: ignore[call-overload]
    assert match("phone", value, [stored.id], normalize="digits") == {
        "ids": [],
        "errors": [],
        "error": reason,
    }
    (line,) = audit_records(decrypt_env.audit_path, "fle.match")
    assert (line["outcome"], line["reason"], line["matched"], line["candidates"]) == ("refused", reason, 0, 1)
    # the candidate was never opened: a term that decrypted leaves its key here, a candidate would add its own
    assert line["keys"] == (["FLEDemo/DemoPublicKey"] if term == "no digits" else [])
    assert "failures" not in line
    assert_no_plaintext(decrypt_env.audit_path, "ask at the desk", "555-0150")


@FILE_ONLY
@pytest.mark.parametrize(
    ("body", "with_config", "code", "words"),
    [
        ({"normalize": None}, False, "bad_event", "name the field's normalizer"),
        ({"normalize": "lower"}, False, "bad_event", "unknown normalizer 'lower'"),
        ({"field": "email"}, True, "not_indexed", "no blind index on field 'email'"),
        ({"normalize": "casefold"}, True, "bad_event", "normalized by digits/1"),
        ({"ids": []}, False, "bad_event", f"1 to {MAX_CANDIDATES} candidate ids"),
        ({"ids": [f"{n:032x}" for n in range(MAX_CANDIDATES + 1)]}, False, "bad_event", "1 to 1000"),
        ({"ids": "abc"}, False, "bad_event", "list of non-empty strings"),
        ({"field": ""}, False, "bad_event", "field name of 1 to 255"),
        ({"term": None, "extra": 1}, False, "bad_event", "unknown: extra"),
    ],
)
def test_requests_the_decryptor_refuses(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
    with_config: bool,
    code: str,
    words: str,
) -> None:
    if with_config:
        monkeypatch.setenv("FLE_CONFIG", str(make_indexed_config(tmp_path / "config", rsa_key)))
    event = {"field": "phone", "term": proxy_encrypt(rsa_key, b"1"), "ids": ["a"], **body}
    event = {k: v for k, v in event.items() if v is not None}
    assert handler.lambda_handler({"match": event}, None) == {"error": code}
    assert words in logged_refusal(caplog)
    assert audit_records(decrypt_env.audit_path, "fle.match") == []


@pytest.mark.parametrize("make_keystore", ["pkcs11_keystore_factory"], indirect=True)
def test_match_with_the_private_key_in_softhsm(
    decrypt_env: DecryptEnv,
    index_keys: IndexKeys,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLE_CONFIG", str(make_indexed_config(tmp_path / "config", rsa_key, Bits=1)))
    items = [edge_item(rsa_key, index_keys, phone, bits=1) for phone in [TERM, *others(12)]]
    asyncio.run(put_all(f"sqlite:///{decrypt_env.store_path}", items))
    beacon = index_keys.beacon("pii-2026", "phone", 1, "14045550150")
    candidates = lookup(asyncio.run(all_items(f"sqlite:///{decrypt_env.store_path}")), [beacon])
    assert len(candidates) > 1
    assert match("phone", proxy_encrypt(rsa_key, b"14045550150"), candidates) == {
        "ids": [items[0].id],
        "errors": [],
    }
    (line,) = audit_records(decrypt_env.audit_path, "fle.match")
    assert line["keys"] == ["FLEDemo/DemoPublicKey"] and line["matched"] == 1


@FILE_ONLY
def test_fle_match_prints_the_matching_ids(
    decrypt_env: DecryptEnv,
    index_keys: IndexKeys,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = make_indexed_config(tmp_path / "config", rsa_key)
    items = [
        edge_item(rsa_key, index_keys, phone) for phone in ["404-555-0150", "14045550150", "404-555-0151"]
    ]
    asyncio.run(put_all(f"sqlite:///{decrypt_env.store_path}", items))
    term = proxy_encrypt(rsa_key, b"(404) 555 0150")
    base = ["match", "--config", str(config), "--field", "phone", "--term", term]
    assert cli.main([*base, *(item.id for item in items)]) == 0
    assert capsys.readouterr().out.splitlines() == [items[0].id]

    monkeypatch.setattr(
        "sys.stdin", io.StringIO("".join(f"{item.id}\n" for item in items) + "\n" + "f" * 32 + "\n")
    )
    assert cli.main([*base, "--json"]) == 1  # one candidate not found
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ids": [items[0].id], "errors": [{"id": "f" * 32, "error": "not_found"}]}
    assert f"fle match: item {'f' * 32}: not_found" in err

    assert cli.main(["match", "--field", "phone", "--term", term, items[0].id]) == 2  # no normalizer named
    assert "name the field's normalizer" in capsys.readouterr().err
    assert len(audit_records(decrypt_env.audit_path, "fle.match")) == 2
    assert_no_plaintext(decrypt_env.audit_path, "555-0150", "555 0150", "4045550150")


@FILE_ONLY
def test_match_through_api_gateway_names_the_caller(
    decrypt_env: DecryptEnv,
    index_keys: IndexKeys,
    rsa_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.decryptor.test_decryptor_apigw import http_event

    stored = edge_item(rsa_key, index_keys, "404-555-0150")
    asyncio.run(put_all(f"sqlite:///{decrypt_env.store_path}", [stored]))
    body = {"match": {"field": "phone", "term": proxy_encrypt(rsa_key, b"(404) 555 0150"), "ids": [stored.id],
                      "normalize": "digits"}}  # fmt: skip
    answer = handler.lambda_handler(http_event(json.dumps(body)), None)
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"ids": [stored.id], "errors": []}
    (line,) = audit_records(decrypt_env.audit_path, "fle.match")
    assert line["caller"]["source"] == "apigateway-http" and line["matched_ids"] == [stored.id]
    missing = handler.lambda_handler(http_event(json.dumps({"match": {**body["match"], "field": ""}})), None)
    assert (missing["statusCode"], json.loads(missing["body"])) == (400, {"error": "bad_event"})


@FILE_ONLY
def test_a_config_that_does_not_load_is_a_config_error(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setenv("FLE_CONFIG", str(tmp_path / "no-such-config"))
    assert match("phone", proxy_encrypt(rsa_key, b"1"), ["a"]) == {"error": "config_error"}
    assert "does not exist or is not a directory" in logged_refusal(caplog)


def test_indexes_by_the_name_a_stored_item_gives_the_field(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    """A JSON body's top-level member is stored under its key; a deeper pointer has no stored field."""
    from decryptor.indexes import ConfigIndexes
    from tests.profiles.test_profiles_indexes import write

    indexes = [
        {"Field": "/phone", "Name": "phone", "Key": "k", "Bits": 8, "Normalize": "digits"},
        {"Field": "/contact/email", "Name": "email", "Key": "k", "Bits": 8, "Normalize": "email"},
    ]
    found = ConfigIndexes.load(write(tmp_path, rsa_key, indexes, ["/phone", "/contact/email"], fmt="JSON"))
    assert list(found.by_field) == ["phone"] and found.unstored == ("/contact/email",)
    assert (found.by_field["phone"].sidecar, found.by_field["phone"].normalizer.id) == (
        "phone__bidx",
        "digits/1",
    )


@pytest.mark.parametrize(("other_normalize", "ambiguous"), [("digits", False), ("none", True)])
def test_two_profiles_indexing_one_stored_field(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_normalize: str, ambiguous: bool
) -> None:
    """The same index in two profiles (form and JSON bodies) is one; different ones are refused."""
    from decryptor import DecryptorConfigError
    from decryptor.indexes import ConfigIndexes
    from testkit.cloudfront import cf_config, cf_profile, cf_public_key, write_config_dir

    form, body = (
        cf_profile("PF", [("K1", "FLEDemo", ["phone"])]),
        cf_profile("PJ", [("K1", "FLEDemo", ["/phone"])]),
    )
    form["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["Fle:Indexes"] = [
        {"Field": "phone", "Name": "phone", "Key": "k", "Bits": 8, "Normalize": "digits"}
    ]
    body["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["Fle:Indexes"] = [
        {"Field": "/phone", "Name": "phone", "Key": "k", "Bits": 8, "Normalize": other_normalize}
    ]
    config = cf_config(
        "C1", [("application/x-www-form-urlencoded", "PF"), ("application/json", "PJ", "JSON")]
    )
    directory = write_config_dir(
        tmp_path / "c", cf_public_key("K1", "DemoPublicKey", rsa_key), form, body, config
    )
    if ambiguous:
        with pytest.raises(
            DecryptorConfigError, match="field 'phone' is indexed differently by two profiles"
        ):
            ConfigIndexes.load(directory)
    else:
        assert list(ConfigIndexes.load(directory).by_field) == ["phone"]
