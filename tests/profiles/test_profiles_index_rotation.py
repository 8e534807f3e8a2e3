"""`"PreviousKey"` in an index of `"Fle:Indexes"`: the old index key while it is being rotated."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from profiles import BlindIndex, ConfigError, load_config_dir
from tests.profiles.test_profiles_indexes import PHONE, only_profile, write


def test_previous_key_loads_and_names_its_sidecar(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    profile = only_profile(write(tmp_path, rsa_key, [{**PHONE, "PreviousKey": "pii-2025"}], ["phone"]))
    assert profile.indexes == (BlindIndex("phone", "phone", "pii-2026", 16, "digits/1", "pii-2025"),)
    assert (profile.indexes[0].sidecar, profile.indexes[0].previous_sidecar) == (
        "phone__bidx",
        "phone__bidx_prev",
    )


def test_without_previous_key_there_is_none(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    assert only_profile(write(tmp_path, rsa_key, [PHONE], ["phone"])).indexes[0].previous_key is None


@pytest.mark.parametrize(
    ("index", "patterns", "message"),
    [
        ({**PHONE, "PreviousKey": "pii-2026"}, ["phone"], "is the index's Key"),
        ({**PHONE, "PreviousKey": ""}, ["phone"], "must not be empty"),
        ({**PHONE, "PreviousKey": 7}, ["phone"], "string"),
        ({**PHONE, "PreviousKey": "k" * 129}, ["phone"], "128"),
        ({**PHONE, "PreviousKeys": "pii-2025"}, ["phone"], "unknown key(s) PreviousKeys"),
        (PHONE, ["phone", "phone__bidx_prev"], "'phone__bidx_prev' is selected by pattern"),
    ],
)
def test_previous_key_mistakes_are_named(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, index: dict[str, object], patterns: list[str], message: str
) -> None:
    directory = write(tmp_path, rsa_key, [index], patterns)
    with pytest.raises(ConfigError) as caught:
        load_config_dir(directory)
    assert message in caught.value.reason, caught.value.reason
