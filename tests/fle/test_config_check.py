"""`fle config check DIR` as a user runs it: a real process, exit status, what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from keystore.tooling import public_pem
from tests.helpers import edit_json, make_config_dir

ROOT = Path(__file__).parents[2]


def check(directory: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fle", "config", "check", str(directory)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_the_examples_check_and_say_what_happens() -> None:
    result = check("profiles/examples")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "profiles/examples: OK" in out
    # the sample's key is not the demo's: another provider, name and Id (profiles/examples/README.md)
    assert "public key KSAMPLEONLY000 (SampleKeyNoPrivateHalf): RSA-2048" in out
    assert (
        "fields named 'phone': encrypt with public key 'SampleKeyNoPrivateHalf' (KSAMPLEONLY000), "
        "provider 'FLESample'" in out
    )
    assert "ForwardWhenContentTypeIsUnknown: false" in out
    assert "ForwardWhenQueryArgProfileIsUnknown: true" in out
    assert (
        "application/x-www-form-urlencoded (URLEncoded): encrypt with profile P280MFCLSYOCVU "
        "(FLESampleProfile)" in out
    )
    assert "any other Content-Type, or none: refuse: 400 RejectedByContentTypeClientError" in out
    assert "not type/subtype: refuse: 400 MalformedContentTypeClientError" in out
    assert "ignored: this config maps no query argument" in out


def _two_keys_two_profiles(directory: Path, key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> Path:
    """A form profile (phone with one key, card* with another, in SoftHSM say), a JSON profile, three
    content types, a query argument, and both Forward* flags turned the other way from the example."""
    make_config_dir(directory, key)
    (directory / "card-key.json").write_text(
        json.dumps(
            {
                "PublicKey": {
                    "Id": "KCARDKEY",
                    "PublicKeyConfig": {
                        "CallerReference": "card",
                        "Name": "CardKey",
                        "EncodedKey": public_pem(other.public_key()),
                    },
                }
            }
        )
    )

    def two_entities(document: dict[str, Any]) -> None:
        entities = document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"][
            "EncryptionEntities"
        ]
        entities["Items"].append(
            {
                "PublicKeyId": "KCARDKEY",
                "ProviderId": "Cards",
                "FieldPatterns": {"Quantity": 1, "Items": ["card*"]},
            }
        )
        entities["Quantity"] = 2

    edit_json(directory / "profile.json", two_entities)
    (directory / "json-profile.json").write_text(
        json.dumps(
            {
                "Id": "PJSON",
                "Name": "ApiProfile",
                "CallerReference": "api",
                "EncryptionEntities": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "PublicKeyId": "KCARDKEY",
                            "ProviderId": "Cards",
                            "FieldPatterns": {"Quantity": 1, "Items": ["/payment/card"]},
                        }
                    ],
                },
            }
        )
    )

    def mappings(document: dict[str, Any]) -> None:
        config = document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]
        ct = config["ContentTypeProfileConfig"]
        ct["ForwardWhenContentTypeIsUnknown"] = True
        ct["ContentTypeProfiles"]["Items"] += [
            {"Format": "JSON", "ProfileId": "PJSON", "ContentType": "application/json"},
            {"Format": "URLEncoded", "ContentType": "text/plain"},
            {"Format": "Multipart", "ProfileId": "P280MFCLSYOCVU", "ContentType": "multipart/form-data"},
        ]
        ct["ContentTypeProfiles"]["Quantity"] = 4
        qa = config["QueryArgProfileConfig"]
        qa["ForwardWhenQueryArgProfileIsUnknown"] = False
        qa["QueryArgProfiles"] = {
            "Quantity": 1,
            "Items": [{"QueryArg": "card", "ProfileId": "P280MFCLSYOCVU"}],
        }

    edit_json(directory / "config.json", mappings)
    return directory


def test_every_content_type_and_query_argument_is_explained(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    result = check(_two_keys_two_profiles(tmp_path, rsa_key, other_rsa_key))
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    expected = [
        "fields named 'phone': encrypt with public key 'DemoPublicKey' (K3D5EWEUDCCXON), provider 'FLEDemo'",
        "fields whose name starts with 'card': encrypt with public key 'CardKey' (KCARDKEY), "
        "provider 'Cards'",
        "profile PJSON (ApiProfile): algorithm suite 0x0178, patterns are JSON pointers",
        "the value at '/payment/card': encrypt with public key 'CardKey' (KCARDKEY), provider 'Cards'",
        "ForwardWhenContentTypeIsUnknown: true",
        "ForwardWhenQueryArgProfileIsUnknown: false",
        "application/x-www-form-urlencoded (URLEncoded): encrypt with profile P280MFCLSYOCVU "
        "(FLEDemoProfile)",
        "application/json (JSON): encrypt with profile PJSON (ApiProfile)",
        "text/plain (URLEncoded): forward as is (nothing encrypted)",
        "multipart/form-data (Multipart): encrypt with profile P280MFCLSYOCVU (FLEDemoProfile)",
        "any other Content-Type, or none: forward as is (nothing encrypted)",
        "a Content-Type that is not type/subtype: refuse: 400 MalformedContentTypeClientError",
        "fle-profile=card:",
        "application/x-www-form-urlencoded: encrypt with profile P280MFCLSYOCVU (FLEDemoProfile)",
        "application/json: refuse: 400 ProfileFormatMismatchClientError "
        "(P280MFCLSYOCVU's patterns cannot read this format)",
        "text/plain: encrypt with profile P280MFCLSYOCVU (FLEDemoProfile)",
        "multipart/form-data: encrypt with profile P280MFCLSYOCVU (FLEDemoProfile)",
        "any other Content-Type: refuse: 400 RejectedByContentTypeClientError",
        "any other value: refuse: 400 RejectedByQueryArgsClientError",
        "given more than once: refuse: 400 MalformedQueryArgsClientError",
    ]
    missing = [line for line in expected if line not in lines]
    assert not missing, result.stdout


def test_the_mismatch_code_is_the_one_the_proxy_uses() -> None:
    """profiles/ may not import edge_proxy: both name the one member of fields.refusals.Reason."""
    from fields.refusals import Reason
    from profiles.describe import FORMAT_MISMATCH

    assert FORMAT_MISMATCH is Reason.PROFILE_FORMAT_MISMATCH
    assert "Reason.PROFILE_FORMAT_MISMATCH" in (ROOT / "edge_proxy" / "pipeline" / "bodies.py").read_text()


def test_a_broken_link_names_the_file_and_json_path(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    make_config_dir(tmp_path, rsa_key)
    edit_json(
        tmp_path / "config.json",
        lambda d: d["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"][
            "ContentTypeProfiles"
        ]["Items"][0].update(ProfileId="PNOPE"),
    )
    result = check(tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {tmp_path / 'config.json'}: $.FieldLevelEncryption.FieldLevelEncryptionConfig."
        "ContentTypeProfileConfig.ContentTypeProfiles.Items[0].ProfileId: ProfileId 'PNOPE' names no "
        "field-level encryption profile in this directory\n"
        f"{tmp_path}: 1 problem(s)\n"
    )


def test_bad_json_a_bad_pattern_and_a_missing_directory_exit_1(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    broken = make_config_dir(tmp_path / "json", rsa_key)
    (broken / "profile.json").write_text('{"FieldLevelEncryptionProfile": ')
    pattern = make_config_dir(tmp_path / "pattern", rsa_key)
    edit_json(
        pattern / "profile.json",
        lambda d: d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"][
            "Items"
        ][0]["FieldPatterns"].update(Quantity=2, Items=["phone", "ph*"]),
    )
    cases = {
        broken: f"{broken / 'profile.json'}: invalid JSON at line 1",
        pattern: f"{pattern / 'profile.json'}: $.FieldLevelEncryptionProfile"
        ".FieldLevelEncryptionProfileConfig.EncryptionEntities.Items[0].FieldPatterns.Items[1]: "
        "pattern 'ph*' overlaps 'phone'",
        tmp_path / "nothing": "does not exist or is not a directory",
    }
    for directory, message in cases.items():
        result = check(directory)
        assert result.returncode == 1, result.stdout
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_every_problem_is_listed_once_and_links_to_broken_objects_are_not_repeated(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    make_config_dir(tmp_path, rsa_key)
    (tmp_path / "junk.json").write_text("{not json")
    edit_json(
        tmp_path / "profile.json",
        lambda d: d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"][
            "Items"
        ][0]["FieldPatterns"].update(Quantity=2, Items=["phone", "ph*"]),
    )
    (tmp_path / "bad-key.json").write_text(
        json.dumps({"Id": "KBAD", "Name": "BadKey", "CallerReference": "x", "EncodedKey": "nope"})
    )
    (tmp_path / "uses-bad-key.json").write_text(
        json.dumps(
            {
                "Id": "PUSESBAD",
                "Name": "UsesBad",
                "CallerReference": "y",
                "EncryptionEntities": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "PublicKeyId": "KBAD",
                            "ProviderId": "X",
                            "FieldPatterns": {"Quantity": 1, "Items": ["x"]},
                        }
                    ],
                },
            }
        )
    )
    result = check(tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3, result.stderr  # config.json and uses-bad-key.json link to broken objects
    assert any(f"{tmp_path / 'junk.json'}: invalid JSON at line 1" in e for e in errors)
    assert any(
        f"{tmp_path / 'bad-key.json'}: $.EncodedKey: not a PEM-encoded public key" in e for e in errors
    )
    assert any(f"{tmp_path / 'profile.json'}: " in e and "overlaps 'phone'" in e for e in errors)
    assert result.stderr.splitlines()[-1] == f"{tmp_path}: 3 problem(s)"

    # Fixed, the same directory passes, and the profile that was skipped is now checked and shown.
    (tmp_path / "junk.json").unlink()
    (tmp_path / "bad-key.json").write_text(
        json.dumps(
            {
                "Id": "KBAD",
                "Name": "BadKey",
                "CallerReference": "x",
                "EncodedKey": public_pem(rsa_key.public_key()),
            }
        )
    )
    edit_json(
        tmp_path / "profile.json",
        lambda d: d["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"][
            "Items"
        ][0]["FieldPatterns"].update(Quantity=1, Items=["phone"]),
    )
    result = check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "profile PUSESBAD (UsesBad)" in result.stdout


def _set(path: list[Any], value: Any):  # type: ignore[no-untyped-def]
    def edit(document: dict[str, Any]) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


_FLE = ["FieldLevelEncryption", "FieldLevelEncryptionConfig"]
_PROFILE = ["FieldLevelEncryptionProfile", "FieldLevelEncryptionProfileConfig"]
_KEY = ["PublicKey", "PublicKeyConfig"]
BREAKAGES = {
    "no config": ("config.json", None),
    "bad flag": (
        "config.json",
        _set([*_FLE, "ContentTypeProfileConfig", "ForwardWhenContentTypeIsUnknown"], "no"),
    ),
    "bad format": (
        "config.json",
        _set([*_FLE, "ContentTypeProfileConfig", "ContentTypeProfiles", "Items", 0, "Format"], "XML"),
    ),
    "no entities": ("profile.json", _set([*_PROFILE, "EncryptionEntities"], {"Quantity": 0, "Items": []})),
    "short key": (
        "public-key.json",
        _set([*_KEY, "EncodedKey"], "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"),
    ),
    "no name": ("public-key.json", _set([*_KEY, "Name"], "")),
    "unknown file": ("public-key.json", _set(["PublicKey"], None)),
}


def test_check_finds_whatever_the_proxy_s_loader_refuses(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    """In process, for each breakage: the loader's one error is among check's errors, and a clean
    directory passes both."""
    from profiles import ConfigError, load_config_dir
    from profiles.check import check_config_dir

    clean = make_config_dir(tmp_path / "clean", rsa_key)
    configs, problems = check_config_dir(clean)
    assert problems == [] and configs == load_config_dir(clean)
    for name, (file, edit) in BREAKAGES.items():
        directory = make_config_dir(tmp_path / name.replace(" ", "-"), rsa_key)
        if edit is None:
            (directory / file).unlink()
        else:
            edit_json(directory / file, edit)
        try:
            load_config_dir(directory)
        except ConfigError as e:
            expected = str(e)
        else:
            raise AssertionError(f"{name}: the loader accepted it")
        configs, problems = check_config_dir(directory)
        assert configs is None and expected in [str(p) for p in problems], (name, expected, problems)
