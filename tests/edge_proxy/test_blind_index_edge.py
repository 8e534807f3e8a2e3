"""The edge writes blind-index beacons (issue 23): beside each indexed protected field, its sidecar, in the
three body formats; a body that already carries a sidecar name, under any family's reading, is refused.

The beacons are checked against an independent computation (blindindex.beacon from the root key file's
bytes, proven against the DB-ESDK fixtures in tests/blindindex/test_beacon.py); the ciphertext is opened
with aws-encryption-sdk itself.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qsl, quote

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex import normalize
from blindindex.beacon import derive_index_key, standard_beacon
from blindindex.keys import IndexKeys
from blindindex.settings import FileKeySettings, IndexKeyEntry
from blindindex.tooling import append_entry, create_root_key_file
from edge_proxy.pipeline.bodies import rewrite_body
from edge_proxy.pipeline.compiled import CompiledConfig
from fields.errors import RequestRefused
from fields.limits import Limits
from profiles import ConfigError, FleConfig, load_config_dir, select
from testkit.cloudfront import cf_config, cf_profile, cf_public_key, write_config_dir
from tests.helpers import raw_master_key

FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PHONE = "+1 (404) 555-0150"
SIDECAR = "BlindIndexSidecarClientError"


def index(field: str, **more: object) -> dict[str, object]:
    return {"Field": field, "Name": "phone", "Key": "pii-2026", "Bits": 16, "Normalize": "digits", **more}


def config_dir(directory: Path, key: rsa.RSAPrivateKey, **more: object) -> Path:
    """Form and multipart under P1 (`phone` indexed, `name` not), JSON under P2 (`/contact/phone` indexed)."""
    p1 = cf_profile("P1", [("K1", "FLEDemo", ["phone", "name"])])
    p2 = cf_profile("P2", [("K1", "FLEDemo", ["/contact/phone", "/card"])])
    p1["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["Fle:Indexes"] = [
        index("phone", **more)
    ]
    p2["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["Fle:Indexes"] = [
        index("/contact/phone", **more)
    ]
    config = cf_config(
        "C1", [(FORM, "P1"), ("multipart/form-data", "P1", "Multipart"), (JSON_TYPE, "P2", "JSON")]
    )
    return write_config_dir(directory, cf_public_key("K1", "DemoPublicKey", key), p1, p2, config)


def index_keys(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    toml = directory / "index-keys.toml"
    for name in names:
        create_root_key_file(directory / f"{name}.hex")
        append_entry(toml, IndexKeyEntry(name, FileKeySettings(directory / f"{name}.hex")))
    return toml


def expected(directory: Path, key_name: str, value: str, bits: int = 16) -> str:
    """The beacon computed apart from the edge: from the root key file's own bytes."""
    root = bytes.fromhex((directory / f"{key_name}.hex").read_text().strip())
    return standard_beacon(derive_index_key(root, "phone"), bits, normalize("digits", value))


@pytest.fixture
def setup(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> tuple[FleConfig, CompiledConfig, Path]:
    keys = IndexKeys.load(index_keys(tmp_path / "keys", "pii-2026"))
    config = load_config_dir(config_dir(tmp_path / "config", rsa_key)).only_config()
    return config, CompiledConfig(config, index_keys=keys), tmp_path / "keys"


def rewrite(setup: tuple[FleConfig, CompiledConfig, Path], body: bytes, content_type: str) -> bytes:
    config, compiled, _ = setup
    out, _count = rewrite_body(select(config, content_type, []), body, content_type, compiled, Limits())
    return out


def opened(value: str, key: rsa.RSAPrivateKey) -> bytes:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    plaintext, _ = client.decrypt(source=base64.b64decode(value), key_provider=raw_master_key(key))
    return bytes(plaintext)


def part(name: str, value: str) -> str:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'


def test_a_form_gets_the_beacon_beside_the_ciphertext(setup, rsa_key: rsa.RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    out = rewrite(setup, f"name=Jane&phone={quote(PHONE)}&x=1".encode(), FORM)
    pairs = parse_qsl(out.decode(), strict_parsing=True)
    assert [name for name, _ in pairs] == ["name", "phone", "phone__bidx", "x"]  # right after the field
    fields = dict(pairs)
    assert opened(fields["phone"], rsa_key) == PHONE.encode() and opened(fields["name"], rsa_key) == b"Jane"
    assert fields["phone__bidx"] == expected(setup[2], "pii-2026", PHONE)  # `name` has no index: no sidecar
    assert len(fields["phone__bidx"]) == 4 and PHONE not in out.decode()


def test_json_gets_a_sibling_member(setup, rsa_key: rsa.RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"contact": {"phone": PHONE, "email": "j@example.org"}, "card": "4111"}).encode()
    document = json.loads(rewrite(setup, body, JSON_TYPE))
    assert list(document["contact"]) == ["phone", "phone__bidx", "email"]
    assert opened(document["contact"]["phone"], rsa_key) == PHONE.encode()
    assert document["contact"]["phone__bidx"] == expected(setup[2], "pii-2026", PHONE)
    assert "card__bidx" not in document and opened(document["card"], rsa_key) == b"4111"


def test_multipart_gets_an_added_part(setup, rsa_key: rsa.RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    body = (part("phone", PHONE) + part("note", "hi") + f"--{BOUNDARY}--\r\n").encode()
    out = rewrite(setup, body, MULTIPART).decode()
    chunks = out.split(f"--{BOUNDARY}")
    names = [c.split('name="')[1].split('"')[0] for c in chunks if 'name="' in c]
    assert names == ["phone", "phone__bidx", "note"]
    sidecar = (
        next(c for c in chunks if 'name="phone__bidx"' in c).split("\r\n\r\n", 1)[1].removesuffix("\r\n")
    )
    assert sidecar == expected(setup[2], "pii-2026", PHONE)


def test_while_rotating_both_beacons_are_written(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    keys_dir = tmp_path / "keys"
    keys = IndexKeys.load(index_keys(keys_dir, "pii-2026", "pii-2027"))
    config = load_config_dir(
        config_dir(tmp_path / "config", rsa_key, Key="pii-2027", PreviousKey="pii-2026")
    ).only_config()
    compiled = CompiledConfig(config, index_keys=keys)
    out, _ = rewrite_body(
        select(config, FORM, []), f"phone={quote(PHONE)}".encode(), FORM, compiled, Limits()
    )
    fields = dict(parse_qsl(out.decode()))
    assert fields["phone__bidx"] == expected(keys_dir, "pii-2027", PHONE)
    assert fields["phone__bidx_prev"] == expected(keys_dir, "pii-2026", PHONE)


PLANTED_FORMS = [
    "phone__bidx=0000",
    "PHONE__BIDX=0000",
    "phone__bidx%5B%5D=0000",
    "phone__bidx[]=0000",
    "phone__bidx_prev=0000",
    "Phone__Bidx_Prev=0000",
    "phone__bidx[0]=0000",
]


@pytest.mark.parametrize("planted", PLANTED_FORMS)
def test_a_planted_form_sidecar_is_refused(setup, planted: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestRefused) as refused:
        rewrite(setup, f"phone=404&{planted}".encode(), FORM)
    assert refused.value.reason == SIDECAR and refused.value.status == 400
    with pytest.raises(RequestRefused):  # alone too: it is the name that is refused, not the pair
        rewrite(setup, planted.encode(), FORM)


@pytest.mark.parametrize(
    "document",
    [
        {"contact": {"phone": "404", "phone__bidx": "0000"}},
        {"contact": {"PHONE__BIDX": "0000"}},
        {"contact": {"phone__bidx_prev": "0000"}},
        {"contact.phone__bidx": "0000"},
        {"contact[phone__bidx]": "0000"},
    ],
)
def test_a_planted_json_sidecar_is_refused(setup, document: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestRefused) as refused:
        rewrite(setup, json.dumps(document).encode(), JSON_TYPE)
    assert refused.value.reason == SIDECAR


@pytest.mark.parametrize("name", ["phone__bidx", "PHONE__bidx", "phone__bidx[]", "phone__bidx_prev"])
def test_a_planted_multipart_sidecar_is_refused(setup, name: str) -> None:  # type: ignore[no-untyped-def]
    body = (part("phone", "404") + part(name, "0000") + f"--{BOUNDARY}--\r\n").encode()
    with pytest.raises(RequestRefused) as refused:
        rewrite(setup, body, MULTIPART)
    assert refused.value.reason == SIDECAR


def test_a_value_the_normalizer_refuses_is_the_clients_mistake(setup) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestRefused) as refused:
        rewrite(setup, b"phone=n%2Fa", FORM)
    assert refused.value.reason == "BlindIndexValueClientError" and refused.value.status == 400
    assert "n/a" not in str(refused.value)
    with pytest.raises(RequestRefused) as refused:
        rewrite(setup, b"phone=%FF4", FORM)  # not UTF-8: no normalized text to index
    assert refused.value.reason == "BlindIndexValueClientError"


def test_an_empty_value_is_encrypted_without_a_beacon(setup) -> None:  # type: ignore[no-untyped-def]
    fields = dict(parse_qsl(rewrite(setup, b"phone=&name=x", FORM).decode(), keep_blank_values=True))
    assert "phone__bidx" not in fields and fields["phone"]


def test_a_profile_with_indexes_needs_its_keys(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    config = load_config_dir(config_dir(tmp_path / "config", rsa_key)).only_config()
    with pytest.raises(ConfigError, match="no index keys"):
        CompiledConfig(config)
    other = IndexKeys.load(index_keys(tmp_path / "keys", "another"))
    with pytest.raises(ConfigError, match="'pii-2026' is not in"):
        CompiledConfig(config, index_keys=other)


def test_profiles_without_indexes_keep_their_selection(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    """No index, no change: the profile's own compiled selection, the encoder as the transform."""
    p1 = cf_profile("P1", [("K1", "FLEDemo", ["phone"])])
    directory = write_config_dir(
        tmp_path / "c", cf_public_key("K1", "DemoPublicKey", rsa_key), p1, cf_config("C1", [(FORM, "P1")])
    )
    config = load_config_dir(directory).only_config()
    profile = config.content_type_profiles[0].profile
    assert profile is not None
    selection, _ = CompiledConfig(config).bound(profile)
    assert selection is profile.selection
