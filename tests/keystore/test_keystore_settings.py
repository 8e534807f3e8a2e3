"""Keystore entries become typed settings when the file loads: a typo stops the load, naming the file, the
entry and the setting, instead of surfacing at the first decrypt. No backend is opened here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keystore import Keystore, KeystoreConfigError
from keystore.settings import FileSettings, Pkcs11Settings, SsmSettings

HEAD = '[[key]]\nprovider_id = "P"\nkey_name = "K"\n'
FILE = HEAD + 'backend = "file"\npath = "keys/k.pem"\npassphrase_env = "PASS"\n'
PKCS11 = (
    HEAD + 'backend = "pkcs11"\nmodule = "/no/such/libpkcs11.so"\ntoken_label = ["a", "b"]\n'
    'key_label = "Key"\nkey_id = "0A0b"\npin_env = "PIN"\nsessions = 3\n'
)
SSM = HEAD + 'backend = "ssm"\nparameter = "/fle/key"\nregion = "eu-west-1"\ncache_seconds = 30\n'
GOOD = HEAD.replace('"K"', '"Good"') + 'backend = "file"\npath = "good.pem"\n'  # a second, valid entry


def load(tmp_path: Path, text: str) -> Keystore:
    path = tmp_path / "ks.toml"
    path.write_text(text)
    return Keystore.from_file(path)


def test_entries_load_as_typed_settings(tmp_path: Path) -> None:
    keystore = load(tmp_path, FILE + "\n" + PKCS11.replace('"K"', '"H"') + "\n" + SSM.replace('"K"', '"S"'))
    file, pkcs11, ssm = (e.settings for e in keystore.entries)
    assert file == FileSettings("keys/k.pem", tmp_path, "PASS")
    assert isinstance(file, FileSettings) and file.location == tmp_path / "keys" / "k.pem"
    assert pkcs11 == Pkcs11Settings("/no/such/libpkcs11.so", ("a", "b"), None, "Key", b"\x0a\x0b", "PIN", 3)
    assert ssm == SsmSettings("/fle/key", "eu-west-1", 30.0)
    # what `fle keys list` shows: the settings that say where the key is, never the secrets' variables
    assert [e.settings.summary() for e in keystore.entries] == [
        "path=keys/k.pem",
        "module=/no/such/libpkcs11.so token_label=['a', 'b'] key_label=Key key_id=0a0b",
        "parameter=/fle/key region=eu-west-1",
    ]


def test_defaults_and_one_label(tmp_path: Path) -> None:
    text = HEAD + 'backend = "pkcs11"\nmodule = "m.so"\ntoken_label = "fle"\nkey_id = "01"\npin_env = "PIN"\n'
    (entry,) = load(tmp_path, text).entries
    assert entry.settings == Pkcs11Settings("m.so", ("fle",), None, None, b"\x01", "PIN", 4)
    (entry,) = load(tmp_path, HEAD + 'backend = "ssm"\nparameter = "/p"\n').entries
    assert entry.settings == SsmSettings("/p", None, 300.0)
    (entry,) = load(tmp_path, HEAD + 'backend = "file"\npath = "/abs/k.pem"\n').entries
    assert isinstance(entry.settings, FileSettings) and entry.settings.location == Path("/abs/k.pem")


@pytest.mark.parametrize(
    ("entry", "old", "new", "message"),
    [
        # unknown setting: a typo in a name
        (PKCS11, "token_label", "token_lable", "unknown setting(s) for backend 'pkcs11': token_lable"),
        (SSM, "cache_seconds", "cache_second", "unknown setting(s) for backend 'ssm': cache_second"),
        (FILE, "passphrase_env", "passphrase_evn", "unknown setting(s) for backend 'file': passphrase_evn"),
        (FILE, "path =", "endpoint = 'x'\npath =", "unknown setting(s) for backend 'file': endpoint"),
        # wrong type
        (PKCS11, "sessions = 3", 'sessions = "3"', "'sessions' must be an integer from 1 to 256"),
        (PKCS11, "sessions = 3", "sessions = 300", "'sessions' must be an integer from 1 to 256"),
        (PKCS11, "sessions = 3", "sessions = true", "'sessions' must be an integer from 1 to 256"),
        (PKCS11, 'token_label = ["a", "b"]', 'slot = "0"', "'slot' must be an integer"),
        (PKCS11, '["a", "b"]', "[]", "'token_label' must be a label or a list of labels"),
        (PKCS11, '["a", "b"]', '["a", 2]', "'token_label' must be a label or a list of labels"),
        (PKCS11, 'key_label = "Key"', "key_label = 7", "'key_label' must be a str"),
        (PKCS11, 'key_id = "0A0b"', 'key_id = "0xZZ"', "key_id must be hexadecimal"),
        (PKCS11, 'key_id = "0A0b"', "key_id = 10", "'key_id' must be a hex str"),
        (PKCS11, 'pin_env = "PIN"', "pin_env = 1234", "'pin_env' must be a str"),
        (SSM, "cache_seconds = 30", 'cache_seconds = "30"', "'cache_seconds' must be a number >= 0"),
        (SSM, "cache_seconds = 30", "cache_seconds = -1", "'cache_seconds' must be a number >= 0"),
        (SSM, 'region = "eu-west-1"', "region = 1", "'region' must be a str"),
        (SSM, 'parameter = "/fle/key"', 'parameter = ""', "'parameter' must not be empty"),
        (FILE, 'path = "keys/k.pem"', "path = 5", "'path' must be a str"),
        # missing required
        (PKCS11, 'module = "/no/such/libpkcs11.so"\n', "", "backend 'pkcs11' needs 'module'"),
        (PKCS11, 'pin_env = "PIN"\n', "", "backend 'pkcs11' needs 'pin_env'"),
        (PKCS11, 'key_label = "Key"\nkey_id = "0A0b"\n', "", "needs 'key_label' or 'key_id'"),
        (PKCS11, 'token_label = ["a", "b"]\n', "", "give exactly one of 'token_label' and 'slot'"),
        (PKCS11, 'token_label = ["a", "b"]\n', "slot = 0\ntoken_label = 'a'\n", "exactly one of"),
        (SSM, 'parameter = "/fle/key"\n', "", "backend 'ssm' needs 'parameter'"),
        (FILE, 'path = "keys/k.pem"\n', "", "backend 'file' needs 'path'"),
    ],
)
def test_a_bad_setting_stops_the_load(tmp_path: Path, entry: str, old: str, new: str, message: str) -> None:
    assert old in entry
    bad = entry.replace(old, new, 1)
    with pytest.raises(KeystoreConfigError) as refused:
        load(tmp_path, GOOD + "\n" + bad)  # the valid entry before it does not save the file
    text = str(refused.value)
    assert text.startswith(f"{tmp_path / 'ks.toml'}: key[1]: "), text  # the file and the entry
    assert message in text


def test_an_unknown_setting_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(KeystoreConfigError) as refused:
        load(tmp_path, SSM.replace("region", "regoin"))
    assert str(refused.value).endswith("'ssm': regoin (known: cache_seconds, parameter, region)")


def test_secrets_and_the_world_are_checked_when_the_backend_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIN", raising=False)
    keystore = load(tmp_path, PKCS11)  # loads without the PIN: `fle keys list` needs none
    with pytest.raises(KeystoreConfigError, match=r"environment variable PIN \(the token PIN\) is not set"):
        keystore.backend("P", "K")


def test_loading_a_keystore_imports_no_backend_library(tmp_path: Path) -> None:
    """Checking settings needs neither python-pkcs11 nor boto3 (a Lambda package may lack python-pkcs11)."""
    path = tmp_path / "ks.toml"
    path.write_text(FILE + "\n" + PKCS11.replace('"K"', '"H"') + "\n" + SSM.replace('"K"', '"S"'))
    program = (
        "import sys\n"
        "from keystore import Keystore\n"
        f"assert len(Keystore.from_file({str(path)!r}).entries) == 3\n"
        "print(sorted(m for m in ('pkcs11', 'boto3', 'botocore') if m in sys.modules))\n"
    )
    command = [sys.executable, "-c", program]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
