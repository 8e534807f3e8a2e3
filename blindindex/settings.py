"""The index-keys file (TOML): one `[[index_key]]` table per root key, checked when it loads.

    [[index_key]]
    name = "pii-2026"           # what a profile's "Fle:Indexes" entry names as its "Key"
    backend = "file"            # the root key: 32 bytes as 64 hex characters, the file mode 0600
    path = "index-root.hex"     # relative to this TOML file's directory

    [[index_key]]
    name = "pii-hsm"
    backend = "pkcs11"          # one non-extractable generic-secret key per index, inside the token
    module = "/usr/lib/softhsm/libsofthsm2.so"
    token_label = "fle-index"
    pin_env = "FLE_INDEX_PIN"   # the variable holding the user PIN (never the PIN itself)
    key_label = "pii-hsm"       # index NAME uses the token's secret key labelled "pii-hsm:NAME"

Unknown settings, a missing one, or a name twice stop the file from loading, with the file and the
entry named. What needs the world (the key file, the PIN, the token) is checked by blindindex.keys.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import IndexKeysError

INDEX_KEYS_ENV = "FLE_INDEX_KEYS"  # where `fle proxy` finds the file when --index-keys is not given
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Index-key names and index names: letters, digits, `.`, `_`, `-`, at most 128 characters."""


def token_key_label(key_label: str, index_name: str) -> str:
    """CKA_LABEL of index `index_name`'s secret key in a pkcs11 entry: `key_label:index_name`."""
    return f"{key_label}:{index_name}"


@dataclass(frozen=True, slots=True)
class FileKeySettings:
    """`backend = "file"`: the root key in a file of 64 hex characters (mode 0600)."""

    path: Path  # resolved: relative paths are relative to the TOML file's directory


@dataclass(frozen=True, slots=True)
class Pkcs11KeySettings:
    """`backend = "pkcs11"`: per-index secret keys inside a PKCS#11 token, the HMAC computed there."""

    module: str
    token_label: str
    pin_env: str
    key_label: str


@dataclass(frozen=True, slots=True)
class IndexKeyEntry:
    """One `[[index_key]]` table."""

    name: str
    settings: FileKeySettings | Pkcs11KeySettings

    @property
    def backend(self) -> str:
        return "file" if isinstance(self.settings, FileKeySettings) else "pkcs11"


_SETTINGS = {
    "file": ({"path"}, set()),  # (required, optional) beside name and backend
    "pkcs11": ({"module", "token_label", "pin_env"}, {"key_label"}),
}


def _string(table: dict[str, Any], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise IndexKeysError(f"{where}: {key} must be a non-empty string")
    return value


def _entry(table: Any, index: int, source: Path) -> IndexKeyEntry:
    where = f"{source}: index_key #{index + 1}"
    if not isinstance(table, dict):
        raise IndexKeysError(f"{where}: expected a table ([[index_key]])")
    if "name" not in table:
        raise IndexKeysError(f"{where}: missing name")
    name = _string(table, "name", where)
    if not NAME_RE.fullmatch(name):
        raise IndexKeysError(
            f"{where}: name {name!r} may hold letters, digits, '.', '_' and '-' only (at most 128)"
        )
    where = f"{source}: index_key {name!r}"
    backend = table.get("backend")
    if backend not in _SETTINGS:
        known = ", ".join(map(repr, _SETTINGS))
        raise IndexKeysError(f"{where}: backend must be one of {known}, not {backend!r}")
    required, optional = _SETTINGS[backend]
    unknown = set(table) - required - optional - {"name", "backend"}
    if unknown:
        names = ", ".join(sorted(unknown))
        raise IndexKeysError(f"{where}: unknown setting(s) {names} for backend {backend!r}")
    missing = required - set(table)
    if missing:
        raise IndexKeysError(f"{where}: backend {backend!r} needs {', '.join(sorted(missing))}")
    values = {key: _string(table, key, where) for key in (required | optional) & set(table)}
    settings: FileKeySettings | Pkcs11KeySettings
    if backend == "file":
        path = Path(values["path"])
        settings = FileKeySettings(path if path.is_absolute() else source.parent / path)
    else:
        settings = Pkcs11KeySettings(
            module=values["module"],
            token_label=values["token_label"],
            pin_env=values["pin_env"],
            key_label=values.get("key_label", name),
        )
    return IndexKeyEntry(name, settings)


def parse_index_keys(text: str, source: Path) -> dict[str, IndexKeyEntry]:
    """The entries of an index-keys file's text, by name; IndexKeysError names `source` on any problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise IndexKeysError(f"{source}: not valid TOML: {e}") from e
    unknown = set(document) - {"index_key"}
    if unknown:
        names = ", ".join(sorted(unknown))
        raise IndexKeysError(f"{source}: unknown table(s) {names}; expected only [[index_key]]")
    tables = document.get("index_key", [])
    if not isinstance(tables, list):
        raise IndexKeysError(f"{source}: index_key must be an array of tables ([[index_key]])")
    entries: dict[str, IndexKeyEntry] = {}
    for index, table in enumerate(tables):
        entry = _entry(table, index, source)
        if entry.name in entries:
            raise IndexKeysError(f"{source}: index_key {entry.name!r} is defined twice")
        entries[entry.name] = entry
    return entries


def read_index_keys(path: str | Path) -> dict[str, IndexKeyEntry]:
    """Read and check an index-keys file (no key is read, no token opened)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise IndexKeysError(f"cannot read index-keys file {str(source)!r}: {reason}") from e
    return parse_index_keys(text, source)
