"""SoftHSM2 tokens in a throwaway SOFTHSM2_CONF, made with softhsm2-util (Debian package `softhsm2`).

One configuration per test session: the PKCS#11 library reads SOFTHSM2_CONF once, at C_Initialize.
Tokens:
- `fle-a`, `fle-b`: the cluster pair. The SAME key must be in both, which a real HSM cluster gets by
  replicating inside the cluster. SoftHSM cannot replicate, so for this fixture ONLY the key pair is
  generated outside (cryptography) and imported into both tokens as sensitive and non-extractable.
  The product never does this: `fle keys create --backend pkcs11` generates inside the token.
- `fle-gen`: keys generated inside the token by the tooling under test.
- `fle-solo`: a token whose directory the recovery tests move away and back.
- `fle-dec`: the decryptor tests' keys (tests/fixtures_decryptor.py imports them, like the cluster key).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
SO_PIN = "12345678"
PIN_ENV = "TEST_PKCS11_PIN"
TOKENS = ("fle-a", "fle-b", "fle-gen", "fle-solo", "fle-dec")
CLUSTER_KEY_LABEL = "ClusterKey"


@dataclass(frozen=True)
class SoftHsm:
    conf: Path
    module: str
    token_dirs: dict[str, Path]
    cluster_key: rsa.RSAPrivateKey  # only the TEST knows it: see the module docstring

    def keystore_entry(
        self,
        tokens: list[str] | str,
        key_label: str,
        *,
        provider_id: str = "FLEDemo",
        key_name: str = "DemoPublicKey",
        sessions: int = 2,
        wrapping: str | None = None,
    ) -> str:
        labels = f'"{tokens}"' if isinstance(tokens, str) else "[" + ", ".join(f'"{t}"' for t in tokens) + "]"
        extra = f'wrapping = "{wrapping}"\n' if wrapping else ""
        return (
            f'[[key]]\nprovider_id = "{provider_id}"\nkey_name = "{key_name}"\nbackend = "pkcs11"\n'
            f'module = "{self.module}"\ntoken_label = {labels}\nkey_label = "{key_label}"\n'
            f'pin_env = "{PIN_ENV}"\nsessions = {sessions}\n{extra}\n'
        )


def import_key(module: str, token_label: str, key: rsa.RSAPrivateKey, label: str) -> None:
    """Test fixture only: put a known private key into a token as sensitive, non-extractable."""
    import pkcs11
    from pkcs11 import Attribute
    from pkcs11.util.rsa import decode_rsa_private_key

    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    attrs = decode_rsa_private_key(der)
    attrs.update(
        {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.DECRYPT: True,
            Attribute.LABEL: label,
            Attribute.ID: label.encode(),
        }
    )
    token = pkcs11.lib(module).get_token(token_label=token_label)
    with token.open(user_pin=PIN, rw=True) as session:
        session.create_object(attrs)


def softhsm_conf(root: Path) -> Path:
    """A SoftHSM2 configuration of its own under `root` (tokens in root/tokens, files, errors only logged);
    fails the test when SoftHSM2 is not installed."""
    if not Path(SOFTHSM_MODULE).exists() or shutil.which("softhsm2-util") is None:
        pytest.fail("SoftHSM2 is missing: scripts/install.sh --test installs the Debian package softhsm2")
    token_root = root / "tokens"
    token_root.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_root}\nobjectstore.backend = file\nlog.level = ERROR\n")
    return conf


def init_tokens(conf: Path, labels: Iterable[str], pin: str, so_pin: str) -> dict[str, Path]:
    """`softhsm2-util --init-token` of each label under `conf`; the directory each token got."""
    token_root = conf.parent / "tokens"
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    dirs: dict[str, Path] = {}
    for label in labels:
        before = set(token_root.iterdir())
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            check=True,
            capture_output=True,
            env=env,
            timeout=30,
        )
        (dirs[label],) = set(token_root.iterdir()) - before
    return dirs


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    conf = softhsm_conf(tmp_path_factory.mktemp("softhsm"))
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    token_dirs = init_tokens(conf, TOKENS, PIN, SO_PIN)
    cluster_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for label in ("fle-a", "fle-b"):
        import_key(SOFTHSM_MODULE, label, cluster_key, CLUSTER_KEY_LABEL)
    try:
        yield SoftHsm(conf, SOFTHSM_MODULE, token_dirs, cluster_key)
    finally:
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved


@pytest.fixture
def pkcs11_pin(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PIN_ENV, PIN)
    return PIN
