"""The keystore file (TOML): one `[[key]]` per (provider_id, key_name), naming the backend that holds it.

    [[key]]
    provider_id = "FLEDemo"
    key_name = "DemoPublicKey"
    backend = "file"
    path = "keys/demo.pem"              # relative to the keystore file
    passphrase_env = "FLE_KEY_PASSPHRASE"
    wrapping = "RSA_OAEP_SHA256_MGF1"   # optional; CloudFront's, the default

Secrets never sit in this file: PINs and passphrases come from environment variables it names.
Every entry's settings are checked when the file loads (keystore/settings.py), so a typo stops the load;
backends are opened on first use, so one key that cannot be reached does not stop the others.
"""

from __future__ import annotations

import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import settings as backend_settings
from .base import KeyBackend
from .errors import BackendUnavailable, KeystoreConfigError, UnknownKey
from .file_backend import FileBackend
from .settings import BackendSettings, FileSettings, Pkcs11Settings, SsmSettings
from .wrapping import DEFAULT_WRAPPING, Wrapping

KEYSTORE_ENV = "FLE_KEYSTORE"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One `[[key]]` table, checked; `settings` is its backend's typed settings (keystore/settings.py)."""

    provider_id: str
    key_name: str
    backend: str
    wrapping: Wrapping
    settings: BackendSettings
    where: str  # "keystore.toml: key[0]", for errors


def _open_pkcs11(entry: KeyEntry, settings: Pkcs11Settings) -> KeyBackend:
    try:
        from .pkcs11_backend import Pkcs11Backend  # loads the C extension only if used
    except ImportError as e:  # e.g. a Lambda package built without --with-pkcs11: a deployment fault,
        # which must not read as a tampered message
        raise BackendUnavailable(f"python-pkcs11 is not installed here ({e.name or e})") from e

    pin = os.environ.get(settings.pin_env)
    if pin is None:
        raise KeystoreConfigError(
            f"{entry.where}: environment variable {settings.pin_env} (the token PIN) is not set"
        )
    return Pkcs11Backend(settings, pin, probe=entry.wrapping)


def _open(entry: KeyEntry) -> KeyBackend:
    """The backend for `entry`, its module imported only now (python-pkcs11, boto3 are optional)."""
    settings = entry.settings
    if isinstance(settings, FileSettings):
        return FileBackend(settings)
    if isinstance(settings, Pkcs11Settings):
        return _open_pkcs11(entry, settings)
    if isinstance(settings, SsmSettings):
        from .ssm_backend import SsmBackend

        return SsmBackend(settings)
    raise AssertionError(f"no opener for {type(settings).__name__}")


_COMMON = {"provider_id", "key_name", "backend", "wrapping"}


def _entry(table: Any, where: str, base_dir: Path) -> KeyEntry:
    if not isinstance(table, dict):
        raise KeystoreConfigError(f"{where}: expected a [[key]] table")
    for name in ("provider_id", "key_name", "backend"):
        if not isinstance(table.get(name), str) or not table[name]:
            raise KeystoreConfigError(f"{where}: {name!r} must be a non-empty string")
    backend = table["backend"]
    own = {k: v for k, v in table.items() if k not in _COMMON}
    settings = backend_settings.parse(backend, own, where, base_dir)
    try:
        wrapping = Wrapping(table.get("wrapping", DEFAULT_WRAPPING.value))
    except ValueError:
        choices = ", ".join(w.value for w in Wrapping)
        raise KeystoreConfigError(
            f"{where}: unknown wrapping {table['wrapping']!r}; choose one of {choices}"
        ) from None
    return KeyEntry(table["provider_id"], table["key_name"], backend, wrapping, settings, where)


class Keystore:
    """The entries of a keystore file and their backends, opened on first use; thread-safe."""

    def __init__(self, entries: list[KeyEntry]) -> None:
        self._entries: dict[tuple[str, str], KeyEntry] = {}
        for entry in entries:
            ident = (entry.provider_id, entry.key_name)
            if ident in self._entries:
                raise KeystoreConfigError(
                    f"{entry.where}: provider {entry.provider_id!r} key {entry.key_name!r} "
                    f"is already defined at {self._entries[ident].where}"
                )
            self._entries[ident] = entry
        self._backends: dict[tuple[str, str], KeyBackend] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> Keystore:
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise KeystoreConfigError(f"cannot read keystore file {str(path)!r}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise KeystoreConfigError(f"{path}: invalid TOML: {e}") from e
        tables = document.get("key", [])
        if not isinstance(tables, list) or not tables:
            raise KeystoreConfigError(f"{path}: no [[key]] entries")
        return cls([_entry(t, f"{path}: key[{i}]", path.parent) for i, t in enumerate(tables)])

    @classmethod
    def from_env(cls) -> Keystore:
        path = os.environ.get(KEYSTORE_ENV)
        if not path:
            raise KeystoreConfigError(f"set {KEYSTORE_ENV} to the path of the keystore file")
        return cls.from_file(path)

    @property
    def entries(self) -> list[KeyEntry]:
        return list(self._entries.values())

    def entry(self, provider_id: str, key_name: str) -> KeyEntry:
        try:
            return self._entries[(provider_id, key_name)]
        except KeyError:
            raise UnknownKey(provider_id, key_name) from None

    def backend(self, provider_id: str, key_name: str) -> KeyBackend:
        """The opened backend for this key; UnknownKey, KeystoreConfigError or BackendUnavailable."""
        ident = (provider_id, key_name)
        entry = self.entry(provider_id, key_name)
        with self._lock:
            if ident not in self._backends:
                self._backends[ident] = _open(entry)
            return self._backends[ident]

    def close(self) -> None:
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()
