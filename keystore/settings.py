"""Each keystore backend's settings, as a frozen dataclass checked when the keystore file loads.

A `[[key]]` table's backend keys become one of these records in `parse`, so a typo (an unknown setting,
a string where a number goes, no key label) stops the keystore from loading, with the file, the entry
and the setting named, instead of surfacing at the first decrypt. What needs the world (the PIN or
passphrase in the environment, the key file, the token, the parameter) is checked when the backend opens.
Nothing here imports a backend, so checking a keystore needs neither python-pkcs11 nor boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import KeystoreConfigError

DEFAULT_SESSIONS = 4  # per token
MAX_SESSIONS = 256
DEFAULT_CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class FileSettings:
    """`backend = "file"`: a PEM private key file."""

    path: str  # as written; relative to base_dir unless absolute
    base_dir: Path  # the keystore file's directory
    passphrase_env: str | None = None  # the variable holding the passphrase; None for an unencrypted file

    @property
    def location(self) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else self.base_dir / path

    def summary(self) -> str:
        return f"path={self.path}"


@dataclass(frozen=True, slots=True)
class Pkcs11Settings:
    """`backend = "pkcs11"`: a key in one HSM token, or the same key in several (a cluster)."""

    module: str  # path of the vendor's PKCS#11 library
    token_labels: tuple[str, ...]  # `token_label`: one label, or a list (a cluster); () when slot is given
    slot: int | None  # the slot id instead of a label
    key_label: str | None  # CKA_LABEL of the private key; key_label and/or key_id
    key_id: bytes | None  # CKA_ID, written in hex
    pin_env: str  # the variable holding the user PIN, read when the backend opens
    sessions: int = DEFAULT_SESSIONS  # per token
    so_pin_env: str | None = None  # the security officer's PIN: read by `fle hsm` only, never the decryptor

    def summary(self) -> str:
        labels = self.token_labels
        shown = {
            "module": self.module,
            "token_label": (labels[0] if len(labels) == 1 else list(labels)) if labels else None,
            "slot": self.slot,
            "key_label": self.key_label,
            "key_id": self.key_id.hex() if self.key_id is not None else None,
        }
        return " ".join(f"{name}={value}" for name, value in shown.items() if value is not None)


@dataclass(frozen=True, slots=True)
class SsmSettings:
    """`backend = "ssm"`: a PEM private key in a Parameter Store SecureString."""

    parameter: str  # the parameter's name
    region: str | None = None  # else the standard AWS configuration (see awsenv)
    cache_seconds: float = DEFAULT_CACHE_SECONDS  # how long the key is kept in memory

    def summary(self) -> str:
        return f"parameter={self.parameter}" + (f" region={self.region}" if self.region else "")


BackendSettings = FileSettings | Pkcs11Settings | SsmSettings


class _Table:
    """A [[key]] table's backend settings, read with typed getters whose errors name entry and setting."""

    def __init__(self, table: Mapping[str, Any], backend: str, where: str) -> None:
        self.table, self.backend, self.where = table, backend, where

    def error(self, message: str) -> KeystoreConfigError:
        return KeystoreConfigError(f"{self.where}: {message}")

    def text(self, name: str, *, required: bool = False, why: str = "") -> str | None:
        value = self.table.get(name)
        if value is None:
            if required:
                raise self.error(f"backend {self.backend!r} needs {name!r}{why}")
            return None
        if not isinstance(value, str):
            raise self.error(f"{name!r} must be a str")
        if required and not value:
            raise self.error(f"{name!r} must not be empty")
        return value

    def required_text(self, name: str, why: str = "") -> str:
        value = self.text(name, required=True, why=why)
        assert value is not None
        return value


def _file(t: _Table, base_dir: Path) -> FileSettings:
    return FileSettings(t.required_text("path"), base_dir, t.text("passphrase_env"))


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pkcs11(t: _Table, base_dir: Path) -> Pkcs11Settings:
    module = t.required_text("module", " (the PKCS#11 library path)")
    pin_env = t.required_text("pin_env")
    key_label, key_id = t.text("key_label"), t.table.get("key_id")
    if key_label is None and key_id is None:
        raise t.error("backend 'pkcs11' needs 'key_label' or 'key_id'")
    if key_id is not None and not isinstance(key_id, str):
        raise t.error("'key_id' must be a hex str")
    try:
        key_id_bytes = bytes.fromhex(key_id) if key_id is not None else None
    except ValueError:
        raise t.error("key_id must be hexadecimal") from None
    labels, slot = t.table.get("token_label"), t.table.get("slot")
    if (labels is None) == (slot is None):
        raise t.error("give exactly one of 'token_label' and 'slot'")
    if isinstance(labels, str):
        labels = [labels]
    if labels is not None and (
        not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels)
    ):
        raise t.error("'token_label' must be a label or a list of labels")
    if slot is not None and not _integer(slot):
        raise t.error("'slot' must be an integer")
    sessions = t.table.get("sessions", DEFAULT_SESSIONS)
    if not _integer(sessions) or not 1 <= sessions <= MAX_SESSIONS:
        raise t.error(f"'sessions' must be an integer from 1 to {MAX_SESSIONS}")
    so_pin_env = t.text("so_pin_env")
    if so_pin_env == "":
        raise t.error("'so_pin_env' must not be empty")
    return Pkcs11Settings(
        module, tuple(labels or ()), slot, key_label, key_id_bytes, pin_env, sessions, so_pin_env
    )


def _ssm(t: _Table, base_dir: Path) -> SsmSettings:
    cache = t.table.get("cache_seconds", DEFAULT_CACHE_SECONDS)
    if not isinstance(cache, int | float) or isinstance(cache, bool) or cache < 0:
        raise t.error("'cache_seconds' must be a number >= 0")
    return SsmSettings(t.required_text("parameter"), t.text("region"), float(cache))


_PARSERS: dict[str, tuple[frozenset[str], Callable[[_Table, Path], BackendSettings]]] = {
    "file": (frozenset({"path", "passphrase_env"}), _file),
    "pkcs11": (
        frozenset(
            {"module", "token_label", "slot", "key_label", "key_id", "pin_env", "sessions", "so_pin_env"}
        ),
        _pkcs11,
    ),
    "ssm": (frozenset({"parameter", "region", "cache_seconds"}), _ssm),
}
BACKENDS = tuple(sorted(_PARSERS))


def parse(backend: str, settings: Mapping[str, Any], where: str, base_dir: Path) -> BackendSettings:
    """The settings record for `backend` from an entry's backend keys; KeystoreConfigError naming `where`
    (file and entry) and the setting when one is unknown, of the wrong type or missing."""
    if backend not in _PARSERS:
        raise KeystoreConfigError(f"{where}: unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    known, build = _PARSERS[backend]
    unknown = set(settings) - known
    if unknown:
        raise KeystoreConfigError(
            f"{where}: unknown setting(s) for backend {backend!r}: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )
    return build(_Table(settings, backend, where), base_dir)
