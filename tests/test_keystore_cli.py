"""`fle keys create|list|check` as a user runs them, against SoftHSM2, moto and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pkcs11
from pkcs11 import Attribute, ObjectClass

from profiles import load_config_dir
from tests.fixtures_moto import Aws
from tests.fixtures_softhsm import PIN, PIN_ENV, SoftHsm
from tests.helpers import make_config_dir

ROOT = Path(__file__).parent.parent


def fle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fle", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
        timeout=120,
    )


def test_create_list_check_with_every_backend(
    tmp_path: Path,
    softhsm: SoftHsm,
    aws: Aws,
    rsa_key,  # type: ignore[no-untyped-def]
) -> None:
    config = make_config_dir(tmp_path / "config", rsa_key)
    keystore = tmp_path / "keystore.toml"
    env = {PIN_ENV: PIN, "FLE_KEY_PASSPHRASE": "file pass", "FLE_KEYSTORE": str(keystore)}
    kms_key = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    label = f"Cli-{tmp_path.name}"
    common = ["--provider-id", "FLEDemo", "--config", str(config)]
    made = fle(
        "keys", "create", "--backend", "pkcs11", *common, "--key-name", "HsmKey", "--module", softhsm.module,
        "--token-label", "fle-gen", "--key-label", label, "--pin-env", PIN_ENV, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    made = fle(
        "keys", "create", "--backend", "ssm", *common, "--key-name", "SsmKey", "--bits", "3072",
        "--parameter", "/fle/cli-key", "--kms-key-id", kms_key, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    made = fle(
        "keys", "create", "--backend", "file", *common, "--key-name", "FileKey",
        "--path", str(tmp_path / "k.pem"), env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600

    names = {key.name for key in load_config_dir(config).public_keys.values()}
    assert {"HsmKey", "SsmKey", "FileKey"} <= names  # the proxy accepts the written PublicKeyConfig files
    doc = json.loads((config / "SsmKey.public-key.json").read_text())
    assert doc["PublicKey"]["PublicKeyConfig"]["Name"] == "SsmKey"

    token = pkcs11.lib(softhsm.module).get_token(token_label="fle-gen")
    with token.open(user_pin=PIN) as session:
        (key,) = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
        assert key[Attribute.NEVER_EXTRACTABLE] is True and key[Attribute.LOCAL] is True

    listed = fle("keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "FLEDemo/HsmKey\tpkcs11" in listed.stdout and "parameter=/fle/cli-key" in listed.stdout
    checked = fle("keys", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("ok    ") == 3
    assert "token 'fle-gen' healthy [RSA_OAEP_SHA256_MGF1: raw+host-decode]" in checked.stdout

    again = fle(
        "keys", "create", "--backend", "file", *common, "--key-name", "FileKey", "--path", "x.pem", env=env
    )
    assert again.returncode == 2 and "already has" in again.stderr
    aws.client("ssm").delete_parameter(Name="/fle/cli-key")
    checked = fle("keys", "check", env=env)
    assert checked.returncode == 1
    assert "FAIL  FLEDemo/SsmKey (ssm): parameter '/fle/cli-key' does not exist" in checked.stdout


def test_create_usage_errors(tmp_path: Path) -> None:
    keystore = str(tmp_path / "ks.toml")
    result = fle(
        "keys",
        "create",
        "--backend",
        "pkcs11",
        "--provider-id",
        "P",
        "--key-name",
        "K",
        "--keystore",
        keystore,
    )
    assert result.returncode == 2 and "needs --module, --token-label" in result.stderr
    result = fle(
        "keys", "create", "--backend", "file", "--provider-id", "P", "--key-name", "K",
        "--keystore", keystore, "--path", str(tmp_path / "k.pem"), env={"FLE_KEY_PASSPHRASE": ""},
    )  # fmt: skip
    assert result.returncode == 2 and "set FLE_KEY_PASSPHRASE" in result.stderr
    assert not (tmp_path / "ks.toml").exists()
