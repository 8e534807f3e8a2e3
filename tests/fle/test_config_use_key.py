"""`fle config use-key`: key rotation's step 2 (docs/key-rotation.md) as a command, not hand-edited JSON.

Keys are made by the real `fle keys create` (file backend); the result is read back with the loader the
proxy uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from profiles import load_config_dir

ROOT = Path(__file__).parents[2]


def fle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLE_KEY_PASSPHRASE": "use-key test passphrase"}
    return subprocess.run(
        [sys.executable, "-m", "fle", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


@pytest.fixture(scope="module")
def made_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config/: profile PDEMO encrypting phone with DemoPublicKey; DemoPublicKey2 present, unused."""
    where = tmp_path_factory.mktemp("use-key")
    for name, extra in (
        ("DemoPublicKey", ["--fields", "phone", "--profile-id", "PDEMO"]),
        ("DemoPublicKey2", []),
    ):
        made = fle(
            "keys", "create", "--backend", "file", "--provider-id", "FLEDemo", "--key-name", name,
            "--path", f"keys/{name}.pem", "--config", "config", "--keystore", "keystore.toml", *extra,
            cwd=where,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    return where / "config"


@pytest.fixture
def two_keys(made_once: Path, tmp_path: Path) -> Path:
    """A copy of the module's config directory, for one test to change."""
    return Path(shutil.copytree(made_once, tmp_path / "config"))


def entity_key_names(config: Path) -> dict[str, str]:
    loaded = load_config_dir(config)
    profile = loaded.profiles["PDEMO"]
    return {p.text: e.public_key.name for e in profile.entities for p in e.patterns}


def snapshot(config: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(config.glob("*.json"))}


def test_the_profile_s_entity_moves_to_the_new_key_with_its_fields(two_keys: Path) -> None:
    assert entity_key_names(two_keys) == {"phone": "DemoPublicKey"}
    done = fle("config", "use-key", str(two_keys), "--profile-id", "PDEMO", "--from", "DemoPublicKey",
               "--to", "DemoPublicKey2", cwd=two_keys.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert entity_key_names(two_keys) == {"phone": "DemoPublicKey2"}
    assert "phone: DemoPublicKey (" in done.stdout and "-> DemoPublicKey2 (" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "DemoPublicKey", "--to", "NoSuchKey"], "no public key named 'NoSuchKey'"),
        (["--from", "DemoPublicKey2", "--to", "DemoPublicKey"], "no entity uses public key 'DemoPublicKey2'"),
        (["--from", "DemoPublicKey", "--to", "DemoPublicKey"], "are the same public key"),
    ],
)
def test_a_switch_that_cannot_be_made_exits_1_and_changes_nothing(
    two_keys: Path, args: list[str], says: str
) -> None:
    before = snapshot(two_keys)
    done = fle("config", "use-key", str(two_keys), "--profile-id", "PDEMO", *args, cwd=two_keys.parent)
    assert done.returncode == 1
    assert says in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert snapshot(two_keys) == before


def test_an_unknown_profile_is_named(two_keys: Path) -> None:
    done = fle("config", "use-key", str(two_keys), "--profile-id", "PNOPE", "--from", "DemoPublicKey",
               "--to", "DemoPublicKey2", cwd=two_keys.parent)  # fmt: skip
    assert done.returncode == 1 and "no profile with Id 'PNOPE'" in done.stderr, done.stderr
