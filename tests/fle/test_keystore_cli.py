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

ROOT = Path(__file__).parents[2]


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


async def test_protect_your_own_form_two_fields_two_keys_one_in_softhsm(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    """docs/configuration.md's walk-through: `fle keys create --fields` writes the profile and config, the
    proxy encrypts each field with its key, and `fle decrypt` opens both (one with the HSM's key)."""
    from urllib.parse import parse_qsl

    from aiohttp import ClientSession, web
    from yarl import URL

    from edge_proxy import ProxySettings, build_app
    from tests.helpers import serving

    config, keystore = tmp_path / "config", tmp_path / "keystore.toml"
    env = {PIN_ENV: PIN, "FLE_KEY_PASSPHRASE": "file pass", "FLE_KEYSTORE": str(keystore)}
    common = ["--provider-id", "MyForm", "--config", str(config), "--profile-id", "PMYFORM"]
    phone = fle("keys", "create", "--backend", "file", "--key-name", "PhoneKey", "--path",
                str(tmp_path / "phone.pem"), *common, "--fields", "phone", env=env)  # fmt: skip
    assert phone.returncode == 0, phone.stderr
    assert "public key Id: K" in phone.stdout and "config.json (new" in phone.stdout
    card = fle("keys", "create", "--backend", "pkcs11", "--key-name", "CardKey", "--module", softhsm.module,
               "--token-label", "fle-gen", "--key-label", f"Card-{tmp_path.name}", "--pin-env", PIN_ENV,
               *common, "--fields", "card*", env=env)  # fmt: skip
    assert card.returncode == 0, card.stderr
    assert "PMYFORM.profile.json (updated)" in card.stdout
    clash = fle("keys", "create", "--backend", "file", "--key-name", "Other", "--path",
                str(tmp_path / "o.pem"), *common, "--fields", "cardnumber", env=env)  # fmt: skip
    assert clash.returncode == 2 and "overlaps pattern 'card*'" in clash.stderr
    assert not (tmp_path / "o.pem").exists()  # refused before a key was made

    received: list[bytes] = []

    async def submit(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="stored")

    origin = web.Application()
    origin.router.add_post("/submit", submit)
    settings = ProxySettings(origin=URL("http://x"), config=load_config_dir(config).only_config(None))
    form = {"name": "Jane", "phone": "404-555-0150", "cardnumber": "4111111111111111"}
    async with serving(origin) as origin_url:
        settings = ProxySettings(origin=URL(origin_url), config=settings.config)
        async with serving(build_app(settings)) as proxy_url, ClientSession() as session:
            async with session.post(f"{proxy_url}/submit", data=form) as response:
                assert response.status == 200
    stored = dict(parse_qsl(received[0].decode()))
    assert stored["name"] == "Jane"
    assert stored["phone"].startswith("AYAB") and stored["cardnumber"].startswith("AYAB")
    decrypted = subprocess.run(
        [sys.executable, "-m", "fle", "decrypt", "--json"],
        input=f"{stored['phone']}\n{stored['cardnumber']}\n",
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )  # fmt: skip
    assert decrypted.returncode == 0, decrypted.stderr
    plain = [json.loads(line)["plaintext"] for line in decrypted.stdout.splitlines()]
    assert plain == ["404-555-0150", "4111111111111111"]
