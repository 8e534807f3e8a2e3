"""`"Fle:Indexes"` in a profile: parsed into BlindIndex records, every mistake named with file and path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from profiles import BlindIndex, ConfigError, load_config_dir
from profiles.check import check_config_dir
from profiles.cloudformation import ExportError, to_cloudformation
from tests.helpers import edit_json, make_config_dir

PHONE = {"Field": "phone", "Name": "phone", "Key": "pii-2026", "Bits": 16, "Normalize": "digits"}


def _profile(document: dict[str, Any]) -> dict[str, Any]:
    return document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]  # type: ignore[no-any-return]


def write(
    tmp_path: Path,
    key: rsa.RSAPrivateKey,
    indexes: Any,
    patterns: list[str] | None = None,
    fmt: str | None = None,
) -> Path:
    make_config_dir(tmp_path, key)

    def edit(document: dict[str, Any]) -> None:
        config = _profile(document)
        if patterns is not None:
            config["EncryptionEntities"]["Items"][0]["FieldPatterns"] = {
                "Quantity": len(patterns),
                "Items": patterns,
            }
        config["Fle:Indexes"] = indexes

    edit_json(tmp_path / "profile.json", edit)
    if fmt is not None:

        def mapping(document: dict[str, Any]) -> None:
            items = document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"]
            items["ContentTypeProfiles"]["Items"][0].update(Format=fmt, ContentType="application/json")

        edit_json(tmp_path / "config.json", mapping)
    return tmp_path


def only_profile(directory: Path):  # type: ignore[no-untyped-def]
    (profile,) = load_config_dir(directory).profiles.values()
    return profile


def test_an_index_loads(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    profile = only_profile(write(tmp_path, rsa_key, [PHONE], ["phone", "email"]))
    assert profile.indexes == (BlindIndex("phone", "phone", "pii-2026", 16, "digits/1"),)
    assert profile.indexes[0].sidecar == "phone__bidx"


def test_a_profile_without_indexes_has_none(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    assert only_profile(make_config_dir(tmp_path, rsa_key)).indexes == ()


def test_json_pointer_fields_and_versioned_normalizers(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    indexes = [
        {"Field": "/contact/email", "Name": "email", "Key": "k", "Bits": 20, "Normalize": "email/1"},
        {"Field": "/contact/phone", "Name": "phone.v1", "Key": "k", "Bits": 12, "Normalize": "digits"},
    ]
    directory = write(tmp_path, rsa_key, indexes, ["/contact/email", "/contact/phone"], fmt="JSON")
    profile = only_profile(directory)
    assert [(i.field, i.normalize, i.sidecar) for i in profile.indexes] == [
        ("/contact/email", "email/1", "/contact/email__bidx"),
        ("/contact/phone", "digits/1", "/contact/phone__bidx"),
    ]


@pytest.mark.parametrize(
    ("indexes", "patterns", "path", "message"),
    [
        (
            {"Field": "phone"},
            None,
            "$.FieldLevelEncryptionProfile.FieldLevelEncryptionProfileConfig.Fle:Indexes",
            "JSON array",
        ),
        (
            [{**PHONE, "Field": "fax"}],
            None,
            "Fle:Indexes[0].Field",
            "not one of this profile's field patterns",
        ),
        ([{**PHONE, "Field": "card*"}], ["card*"], "Fle:Indexes[0].Field", "has a '*'"),
        ([{**PHONE, "Bits": 0}], None, "Fle:Indexes[0].Bits", "1 to 63"),
        ([{**PHONE, "Bits": 64}], None, "Fle:Indexes[0].Bits", "1 to 63"),
        ([{**PHONE, "Bits": 16.0}], None, "Fle:Indexes[0].Bits", "integer"),
        ([{**PHONE, "Bits": True}], None, "Fle:Indexes[0].Bits", "integer"),
        (
            [{**PHONE, "Normalize": "digits/2"}],
            None,
            "Fle:Indexes[0].Normalize",
            "unknown normalizer 'digits/2'",
        ),
        ([{**PHONE, "Normalize": "lower"}], None, "Fle:Indexes[0].Normalize", "known: casefold/1, digits/1"),
        ([{**PHONE, "Key": ""}], None, "Fle:Indexes[0].Key", "must not be empty"),
        ([{**PHONE, "Name": "my phone"}], None, "Fle:Indexes[0].Name", "letters, digits"),
        ([{**PHONE, "Name": "x" * 65}], None, "Fle:Indexes[0].Name", "at most 64"),
        (
            [{k: v for k, v in PHONE.items() if k != "Normalize"}],
            None,
            "Fle:Indexes[0]",
            "missing required key 'Normalize'",
        ),
        ([{**PHONE, "Bit": 16}], None, "Fle:Indexes[0]", "unknown key(s) Bit"),
        ([PHONE, {**PHONE, "Field": "email"}], ["phone", "email"], "Fle:Indexes[1].Name", "used twice"),
        ([PHONE, {**PHONE, "Name": "p2"}], None, "Fle:Indexes[1].Field", "has an index already"),
        ([PHONE], ["phone", "phone__bidx"], "Fle:Indexes[0].Field", "selected by pattern 'phone__bidx'"),
        ([PHONE], ["phone", "phone_*"], "Fle:Indexes[0].Field", "selected by pattern 'phone_*'"),
    ],
)
def test_mistakes_are_named_with_file_and_path(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    indexes: Any,
    patterns: list[str] | None,
    path: str,
    message: str,
) -> None:
    directory = write(tmp_path, rsa_key, indexes, patterns or ["phone", "email"])
    with pytest.raises(ConfigError) as caught:
        load_config_dir(directory)
    assert caught.value.file == str(directory / "profile.json")
    assert caught.value.path is not None and caught.value.path.endswith(path)
    assert message in caught.value.reason
    _, problems = check_config_dir(directory)  # `fle config check` reports the same problem
    assert [str(p) for p in problems] == [str(caught.value)]


@pytest.mark.parametrize(
    ("field", "patterns", "message"),
    [
        ("/travellers/*/passport", ["/travellers/*/passport"], "has a '*'"),
        ("/phones/0", ["/phones/0"], "object member's name"),
        ("/contact/phone", ["/contact/phone", "/contact/phone__bidx"], "selected by pattern"),
    ],
)
def test_pointer_fields_need_a_known_sibling(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, field: str, patterns: list[str], message: str
) -> None:
    directory = write(tmp_path, rsa_key, [{**PHONE, "Field": field}], patterns, fmt="JSON")
    with pytest.raises(ConfigError, match=message):
        load_config_dir(directory)


def test_cloudformation_export_refuses_indexes(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    """CloudFront computes no beacons: the export says so instead of dropping the index silently."""
    with pytest.raises(ExportError, match=r"blind indexes \(Fle:Indexes\) on \['phone'\]"):
        to_cloudformation(load_config_dir(write(tmp_path, rsa_key, [PHONE], ["phone"])))


def test_profiles_import_no_key_code() -> None:
    """profiles reads normalizer names from blindindex.normalizers only: in a fresh interpreter, loading
    profiles loads neither blindindex's key modules nor python-pkcs11."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, profiles; "
        "print(sorted(m for m in sys.modules if m.startswith(('blindindex', 'pkcs11', 'keystore'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert done.stdout.strip() == str(
        [
            "blindindex",
            "blindindex.beacon",
            "blindindex.errors",
            "blindindex.normalizers",
            "blindindex.planner",
        ]
    )
