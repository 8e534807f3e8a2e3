"""Loading CloudFront JSON: every accepted shape, and errors that name the file and the JSON path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keystore.tooling import public_pem
from profiles import ConfigError, load_config_dir
from profiles.examples import EXAMPLE_FILES
from tests.helpers import edit_json, make_config_dir

EXAMPLES = Path(__file__).parents[2] / "profiles" / "examples"


def test_shipped_example_is_the_classic_sample() -> None:
    configs = load_config_dir(EXAMPLES)
    config = configs.only_config()
    [mapping] = config.content_type_profiles
    assert mapping.content_type == "application/x-www-form-urlencoded"
    [entity] = mapping.profile.entities  # type: ignore[union-attr]
    # a key of its own, never the demo's (FLEDemo/DemoPublicKey): its private half exists nowhere
    assert entity.provider_id == "FLESample"
    assert entity.public_key.name == "SampleKeyNoPrivateHalf"
    assert [p.text for p in entity.patterns] == ["phone"]
    assert config.forward_when_content_type_is_unknown is False


def _unwrap(document: dict, wrapper: str) -> dict:
    inner = document[wrapper]
    return inner


@pytest.mark.parametrize("shape", ["no-etag", "id-beside-config", "bare-with-id"])
def test_other_accepted_shapes(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, shape: str) -> None:
    make_config_dir(tmp_path, rsa_key)
    wrappers = {
        "public-key.json": ("PublicKey", "PublicKeyConfig"),
        "profile.json": ("FieldLevelEncryptionProfile", "FieldLevelEncryptionProfileConfig"),
        "config.json": ("FieldLevelEncryption", "FieldLevelEncryptionConfig"),
    }
    for name, (wrapper, config_key) in wrappers.items():
        document = json.loads((tmp_path / name).read_text())
        outer = document[wrapper]
        if shape == "no-etag":
            new = {wrapper: outer}
        elif shape == "id-beside-config":
            new = {"Id": outer["Id"], config_key: outer[config_key]}
        else:
            new = {"Id": outer["Id"], **outer[config_key]}
        (tmp_path / name).write_text(json.dumps(new))
    config = load_config_dir(tmp_path).only_config()
    assert config.id == "C3KM2WVD605UAY"
    assert config.content_type_profiles[0].profile.entities[0].public_key.name == "DemoPublicKey"  # type: ignore[union-attr]


def _broken(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, file: str, edit) -> ConfigError:  # type: ignore[no-untyped-def]
    make_config_dir(tmp_path, rsa_key)
    edit_json(tmp_path / file, edit)
    with pytest.raises(ConfigError) as info:
        load_config_dir(tmp_path)
    assert info.value.file == str(tmp_path / file)
    return info.value


ENTITY = "$.FieldLevelEncryptionProfile.FieldLevelEncryptionProfileConfig.EncryptionEntities.Items[0]"


def test_unknown_public_key_id(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    def edit(d: dict) -> None:
        d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"]["Items"][
            0
        ]["PublicKeyId"] = "KNOPE"

    error = _broken(tmp_path, rsa_key, "profile.json", edit)
    assert error.path == f"{ENTITY}.PublicKeyId"
    assert "KNOPE" in str(error)


def test_unknown_profile_id(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    def edit(d: dict) -> None:
        items = d["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"]
        items["ContentTypeProfiles"]["Items"][0]["ProfileId"] = "PNOPE"

    error = _broken(tmp_path, rsa_key, "config.json", edit)
    assert error.path.endswith("ContentTypeProfiles.Items[0].ProfileId")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["phone", "ph*"], "overlaps"),
        (["AB*", "ABC*"], "overlaps"),
        (["ph one"], "may contain only"),
        (["phone**"], "may contain only"),
        (["p*hone"], "may contain only"),
        ([""], "must not be empty"),
        (["x" * 129], "at most 128"),
        ([f"f{i}" for i in range(11)], "at most 10 field patterns"),
    ],
)
def test_bad_patterns(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, patterns: list[str], message: str) -> None:
    def edit(d: dict) -> None:
        entity = d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"][
            "Items"
        ][0]
        entity["FieldPatterns"] = {"Quantity": len(patterns), "Items": patterns}

    error = _broken(tmp_path, rsa_key, "profile.json", edit)
    assert message in str(error)


def test_quantity_must_match_items(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    def edit(d: dict) -> None:
        entity = d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"][
            "Items"
        ][0]
        entity["FieldPatterns"]["Quantity"] = 2

    error = _broken(tmp_path, rsa_key, "profile.json", edit)
    assert error.path == f"{ENTITY}.FieldPatterns.Quantity"


@pytest.mark.parametrize("kind", ["short-rsa", "ec", "garbage"])
def test_unusable_public_keys(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, kind: str) -> None:
    if kind == "short-rsa":
        pem = public_pem(rsa.generate_private_key(65537, 1024).public_key())
    elif kind == "ec":
        from cryptography.hazmat.primitives import serialization

        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
    else:
        pem = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"

    def edit(d: dict) -> None:
        d["PublicKey"]["PublicKeyConfig"]["EncodedKey"] = pem

    error = _broken(tmp_path, rsa_key, "public-key.json", edit)
    assert error.path == "$.PublicKey.PublicKeyConfig.EncodedKey"
    assert {"short-rsa": "1024 bits", "ec": "RSA", "garbage": "PEM"}[kind] in str(error)


def test_missing_key_and_wrong_types(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    def edit(d: dict) -> None:
        del d["PublicKey"]["PublicKeyConfig"]["Name"]

    error = _broken(tmp_path, rsa_key, "public-key.json", edit)
    assert "missing required key 'Name'" in str(error)
    assert error.path == "$.PublicKey.PublicKeyConfig"

    def edit_bool(d: dict) -> None:
        d["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"][
            "ForwardWhenContentTypeIsUnknown"
        ] = "no"

    error = _broken(tmp_path / "b", rsa_key, "config.json", edit_bool)
    assert "expected true or false" in str(error)


def test_invalid_json_names_file_and_line(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    make_config_dir(tmp_path, rsa_key)
    (tmp_path / "profile.json").write_text('{\n  "FieldLevelEncryptionProfile": \n')
    with pytest.raises(ConfigError) as info:
        load_config_dir(tmp_path)
    assert str(tmp_path / "profile.json") in str(info.value)
    assert "line" in str(info.value)


def test_unrecognised_document_and_duplicates(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    make_config_dir(tmp_path, rsa_key)
    (tmp_path / "other.json").write_text('{"DistributionConfig": {}}')
    with pytest.raises(ConfigError, match="not a CloudFront public key"):
        load_config_dir(tmp_path)
    (tmp_path / "other.json").unlink()
    shutil.copy(tmp_path / "profile.json", tmp_path / "profile-copy.json")
    with pytest.raises(ConfigError, match="also defined in"):
        load_config_dir(tmp_path)


def test_missing_directory_and_no_config(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_dir(tmp_path / "nope")
    make_config_dir(tmp_path, rsa_key)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ConfigError, match="no field-level encryption config"):
        load_config_dir(tmp_path)


def test_choosing_among_several_configs(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    make_config_dir(tmp_path, rsa_key)
    document = json.loads((tmp_path / "config.json").read_text())
    document["FieldLevelEncryption"]["Id"] = "CSECOND"
    (tmp_path / "config2.json").write_text(json.dumps(document))
    configs = load_config_dir(tmp_path)
    with pytest.raises(ConfigError, match="exactly one"):
        configs.only_config()
    assert configs.only_config("CSECOND").id == "CSECOND"
    with pytest.raises(ConfigError, match="no field-level encryption config with Id"):
        configs.only_config("CNOPE")


def test_example_files_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(EXAMPLE_FILES)
