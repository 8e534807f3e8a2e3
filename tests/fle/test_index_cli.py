"""`fle index keys create | plan` and `fle config check --distinct / --index-keys`, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, ObjectClass

from blindindex.beacon import derive_index_key, standard_beacon
from blindindex.keys import IndexKeys
from blindindex.settings import FileKeySettings, Pkcs11KeySettings, read_index_keys
from tests.fixtures_softhsm import PIN, PIN_ENV, SoftHsm
from tests.helpers import edit_json, make_config_dir

ROOT = Path(__file__).parents[2]


def fle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fle", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )


def test_plan_prints_the_window_with_the_cost_of_each_length() -> None:
    result = fle("index", "plan", "--distinct", "100000")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(" ")]
    assert [row[0] for row in rows] == [str(n) for n in range(9, 16)]
    assert rows[-1] == ["15", "4", "3.05", "4.05"]  # 100000/32768, 1 + 99999/32768


@pytest.mark.parametrize("distinct", ["8", "16"])
def test_plan_fails_when_no_length_is_safe(distinct: str) -> None:
    result = fle("index", "plan", "--distinct", distinct)
    assert result.returncode == 1
    assert f"no beacon length is safe for {distinct} distinct values" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("distinct", ["0", "many", "-3"])
def test_plan_refuses_what_is_not_a_count(distinct: str) -> None:
    result = fle("index", "plan", "--distinct", distinct)
    assert result.returncode == 2 and "argument --distinct" in result.stderr


def test_create_a_file_key(tmp_path: Path) -> None:
    toml = tmp_path / "index-keys.toml"
    key = tmp_path / "index-root.hex"
    result = fle("index", "keys", "create", "--index-keys", str(toml), "--name", "pii-2026",
                 "--backend", "file", "--path", str(key))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert key.stat().st_mode & 0o777 == 0o600
    assert read_index_keys(toml)["pii-2026"].settings == FileKeySettings(key)
    assert 'path = "index-root.hex"' in toml.read_text()  # beside the TOML file: written relative to it
    root = bytes.fromhex(key.read_text().strip())
    with IndexKeys.load(toml) as keys:
        expected = standard_beacon(derive_index_key(root, "phone"), 16, "1")
        assert keys.beacon("pii-2026", "phone", 16, "1") == expected
    before = key.read_text()
    again = fle("index", "keys", "create", "--index-keys", str(toml), "--name", "other",
                "--backend", "file", "--path", str(key))  # fmt: skip
    assert again.returncode == 2 and "already exists" in again.stderr and key.read_text() == before
    same_name = fle("index", "keys", "create", "--index-keys", str(toml), "--name", "pii-2026",
                    "--backend", "file", "--path", str(tmp_path / "new.hex"))  # fmt: skip
    assert same_name.returncode == 2 and "already has an index_key named 'pii-2026'" in same_name.stderr
    assert not (tmp_path / "new.hex").exists()  # refused before a key was made


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "file"], "--backend file needs --path"),
        (["--backend", "pkcs11", "--module", "m", "--token", "t"], "--backend pkcs11 needs --index"),
        (["--backend", "file", "--path", "x", "--index", "phone"], "--index not for --backend file"),
        (["--backend", "file", "--path", "x", "--name", "a b"], "--name 'a b'"),
    ],
)
def test_create_refuses_incomplete_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    toml = str(tmp_path / "k.toml")
    result = fle("index", "keys", "create", "--index-keys", toml, "--name", "k", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "x").exists()


def test_create_keys_in_a_token(softhsm: SoftHsm, tmp_path: Path) -> None:
    toml = tmp_path / "index-keys.toml"
    label = f"bidx-cli-{uuid.uuid4().hex[:8]}"
    env = {"SOFTHSM2_CONF": str(softhsm.conf), PIN_ENV: PIN}
    result = fle("index", "keys", "create", "--index-keys", str(toml), "--name", "pii-hsm",
                 "--backend", "pkcs11", "--module", softhsm.module, "--token", "fle-gen",
                 "--pin-env", PIN_ENV,
                 "--key-label", label,
                 "--index", "phone", "--index", "email", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = Pkcs11KeySettings(softhsm.module, "fle-gen", PIN_ENV, label)
    assert read_index_keys(toml)["pii-hsm"].settings == settings
    token = pkcs11.lib(softhsm.module).get_token(token_label="fle-gen")
    with token.open(user_pin=PIN) as session:
        for index in ("phone", "email"):
            wanted = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: f"{label}:{index}"}
            (key,) = session.get_objects(wanted)
            assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
    no_pin = fle("index", "keys", "create", "--index-keys", str(toml), "--name", "again",
                 "--backend", "pkcs11", "--module", softhsm.module, "--token", "fle-gen",
                 "--pin-env", "NO_SUCH_PIN_VAR",
                 "--index", "phone", env={"SOFTHSM2_CONF": str(softhsm.conf)})  # fmt: skip
    assert no_pin.returncode == 2 and "NO_SUCH_PIN_VAR" in no_pin.stderr
    assert "again" not in read_index_keys(toml)


# -- fle config check ------------------------------------------------------------------------------------
def indexed_config(directory: Path, key: rsa.RSAPrivateKey, bits: int = 16) -> Path:
    make_config_dir(directory, key)

    def edit(document: dict[str, Any]) -> None:
        config = document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
        index = {"Field": "phone", "Name": "phone", "Key": "pii-2026", "Bits": bits, "Normalize": "digits"}
        config["Fle:Indexes"] = [index]

    edit_json(directory / "profile.json", edit)
    return directory


def test_check_describes_the_index(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    result = fle("config", "check", str(indexed_config(tmp_path, rsa_key)))
    assert result.returncode == 0, result.stderr
    assert (
        "blind index 'phone' on 'phone': beacon in 'phone__bidx', 16 bits, index key 'pii-2026', "
        "normalizer digits/1" in result.stdout
    )


def test_check_warns_when_bits_are_outside_the_window(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    directory = indexed_config(tmp_path, rsa_key, bits=16)
    inside = fle("config", "check", str(directory), "--distinct", "phone=1000000")
    assert inside.returncode == 0 and "warning" not in inside.stderr, inside.stderr
    outside = fle("config", "check", str(directory), "--distinct", "phone=10000")
    assert outside.returncode == 0
    assert (
        "index 'phone' on phone has Bits 16; for 10000 distinct values the safe lengths are 7 to 12 "
        "(fle index plan --distinct 10000)" in outside.stderr
    )
    by_name = fle("config", "check", str(directory), "--distinct", "phone=16")
    assert "warning:" in by_name.stderr and "no length is safe" in by_name.stderr
    typo = fle("config", "check", str(directory), "--distinct", "fone=1000")
    assert typo.returncode == 1 and "no profile has an index on Field or Name 'fone'" in typo.stderr
    bad = fle("config", "check", str(directory), "--distinct", "phone")
    assert bad.returncode == 2 and "FIELD=X" in bad.stderr


def test_check_finds_index_keys_the_file_lacks(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    directory = indexed_config(tmp_path / "conf", rsa_key)
    root = tmp_path / "root.hex"
    root.write_text("ab" * 32)
    root.chmod(0o600)
    toml = tmp_path / "index-keys.toml"
    toml.write_text(f'[[index_key]]\nname = "other"\nbackend = "file"\npath = "{root}"\n')
    missing = fle("config", "check", str(directory), "--index-keys", str(toml))
    assert missing.returncode == 1
    assert "index 'phone' names Key 'pii-2026', which" in missing.stderr
    assert "(its index keys: other)" in missing.stderr
    toml.write_text(f'[[index_key]]\nname = "pii-2026"\nbackend = "file"\npath = "{root}"\n')
    assert fle("config", "check", str(directory), "--index-keys", str(toml)).returncode == 0
    from_env = fle("config", "check", str(directory), env={"FLE_INDEX_KEYS": str(toml)})
    assert from_env.returncode == 0
    root.chmod(0o644)  # the file keys load as the proxy would load them
    loose = fle("config", "check", str(directory), "--index-keys", str(toml))
    assert loose.returncode == 1 and "mode 0644" in loose.stderr
    from_env = fle("config", "check", str(directory), env={"FLE_INDEX_KEYS": str(toml)})
    assert from_env.returncode == 1  # $FLE_INDEX_KEYS is checked as --index-keys is
