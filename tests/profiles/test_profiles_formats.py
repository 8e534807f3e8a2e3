"""The profile-format extensions: JSON and Multipart formats, JSON-pointer patterns, Fle:AlgorithmSuite."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fields.json_pointer import parse_pointer_pattern
from profiles import BodyFormat, ConfigError, load_config_dir
from tests.helpers import edit_json, make_config_dir

PROFILE_CONFIG = ("FieldLevelEncryptionProfile", "FieldLevelEncryptionProfileConfig")


def _set_patterns(patterns: list[str], suite: str | None = None):  # type: ignore[no-untyped-def]
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        config = d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
        config["EncryptionEntities"]["Items"][0]["FieldPatterns"] = {
            "Quantity": len(patterns),
            "Items": patterns,
        }
        if suite is not None:
            config["Fle:AlgorithmSuite"] = suite

    return edit


def _set_mapping(fmt: str, content_type: str):  # type: ignore[no-untyped-def]
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        items = d["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"]
        items["ContentTypeProfiles"]["Items"][0].update(Format=fmt, ContentType=content_type)

    return edit


def _load(
    tmp_path: Path, key: rsa.RSAPrivateKey, patterns: list[str], fmt: str, content_type: str, suite=None
):  # type: ignore[no-untyped-def]
    make_config_dir(tmp_path, key)
    edit_json(tmp_path / "profile.json", _set_patterns(patterns, suite))
    edit_json(tmp_path / "config.json", _set_mapping(fmt, content_type))
    return load_config_dir(tmp_path).only_config()


def test_json_format_with_pointer_patterns_and_the_committing_suite(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    config = _load(
        tmp_path, rsa_key, ["/card/number", "/travellers/*/passport"], "JSON", "application/json", "0x0478"
    )
    [mapping] = config.content_type_profiles
    assert mapping.format is BodyFormat.JSON
    assert mapping.profile.algorithm_suite == 0x0478  # type: ignore[union-attr]
    assert [p.text for p in mapping.profile.entities[0].patterns] == [
        "/card/number",
        "/travellers/*/passport",
    ]  # type: ignore[union-attr]


def test_multipart_format_and_the_default_suite(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    config = _load(tmp_path, rsa_key, ["card", "passport*"], "Multipart", "Multipart/Form-Data")
    [mapping] = config.content_type_profiles
    assert mapping.format is BodyFormat.MULTIPART and mapping.profile.algorithm_suite == 0x0178  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("patterns", "fmt", "content_type", "suite", "message"),
    [
        (
            ["/card/number"],
            "URLEncoded",
            "application/x-www-form-urlencoded",
            None,
            "cannot be used with Format",
        ),
        (["/card/number"], "Multipart", "multipart/form-data", None, "cannot be used with Format"),
        (["card"], "JSON", "application/json", None, "cannot be used with Format"),
        (["/card", "phone"], "JSON", "application/json", None, "not both"),
        (["/card"], "JSON", "text/plain", None, "Format JSON needs"),
        (["card"], "Multipart", "multipart/mixed", None, "Format Multipart needs"),
        (["/card"], "XML", "application/xml", None, "supported: URLEncoded, JSON, Multipart"),
        (["/card", "/card/number"], "JSON", "application/json", None, "overlaps"),
        (["/a/*/c", "/a/b"], "JSON", "application/json", None, "overlaps"),
        (["/a/~2"], "JSON", "application/json", None, "RFC 6901"),
        (["/" + "a" * 256], "JSON", "application/json", None, "at most 256"),
        (["/card"], "JSON", "application/json", "0x0078", "unsupported algorithm suite"),
        (["/card"], "JSON", "application/json", 1144, "expected a string"),
    ],
)
def test_load_time_errors(  # type: ignore[no-untyped-def]
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, patterns, fmt, content_type, suite, message
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, rsa_key, patterns, fmt, content_type, suite)
    assert message in str(info.value)


def test_query_arg_profile_must_read_some_mapped_format(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["QueryArgProfileConfig"][
            "QueryArgProfiles"
        ] = {
            "Quantity": 1,
            "Items": [{"QueryArg": "api", "ProfileId": "PJSON"}],
        }

    make_config_dir(tmp_path, rsa_key)
    (tmp_path / "json-profile.json").write_text((tmp_path / "profile.json").read_text())
    edit_json(tmp_path / "json-profile.json", _set_patterns(["/card"]))
    edit_json(tmp_path / "json-profile.json", lambda d: d["FieldLevelEncryptionProfile"].update(Id="PJSON"))
    edit_json(tmp_path / "config.json", edit)
    with pytest.raises(ConfigError) as info:
        load_config_dir(tmp_path)
    assert "profile 'PJSON' reads none of the Formats this config maps" in str(info.value)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("/a/b", "/a/b", True),
        ("/a/*", "/a/b", True),
        ("/a", "/a/b/c", True),
        ("/*/b", "/a/*", True),
        ("/a/b", "/a/c", False),
        ("/a/b", "/b", False),
        ("/a~1b", "/a/b", False),
        ("/list/0", "/list/1", False),
    ],
)
def test_pointer_overlap(a: str, b: str, overlap: bool) -> None:
    pa, pb = parse_pointer_pattern(a), parse_pointer_pattern(b)
    assert pa.overlaps(pb) is overlap and pb.overlaps(pa) is overlap


def test_pointer_matching() -> None:
    pattern = parse_pointer_pattern("/travellers/*/passport")
    assert pattern.matches(("travellers", 0, "passport"))
    assert pattern.matches(("travellers", "x", "passport"))
    assert not pattern.matches(("travellers", 0))
    assert not pattern.matches(("travellers", 0, "passport", "n"))
    assert parse_pointer_pattern("/a~1b/~0c").segments == ("a/b", "~c")
    assert parse_pointer_pattern("/list/1").matches(("list", 1))
