"""Making index keys: a file root key, or per-index secret keys generated inside a PKCS#11 token, and the
`[[index_key]]` entry that names them (what `fle index keys create` does)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .beacon import ROOT_KEY_BYTES
from .errors import IndexKeysError
from .settings import FileKeySettings, IndexKeyEntry, Pkcs11KeySettings


def create_root_key_file(path: Path) -> None:
    """Write a new random 32-byte root key to `path` as 64 hex characters, mode 0600; never overwrites."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise IndexKeysError(f"{path} already exists; an index root key is never overwritten") from None
    except OSError as e:
        raise IndexKeysError(f"cannot create {path}: {e.strerror}") from e
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_bytes(ROOT_KEY_BYTES).hex() + "\n")


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def entry_text(entry: IndexKeyEntry, index_keys_file: Path) -> str:
    """The TOML of one `[[index_key]]` table; a file path inside the TOML file's directory is written
    relative to it (so the two move together), any other absolute."""
    lines = ["[[index_key]]", f"name = {_toml(entry.name)}", f"backend = {_toml(entry.backend)}"]
    settings = entry.settings
    if isinstance(settings, FileKeySettings):
        path = settings.path.resolve()
        base = index_keys_file.resolve().parent
        shown = path.relative_to(base) if path.is_relative_to(base) else path
        lines.append(f"path = {_toml(str(shown))}")
    else:
        assert isinstance(settings, Pkcs11KeySettings)
        lines += [
            f"module = {_toml(settings.module)}",
            f"token_label = {_toml(settings.token_label)}",
            f"pin_env = {_toml(settings.pin_env)}",
            f"key_label = {_toml(settings.key_label)}",
        ]
    return "\n".join(lines) + "\n"


def append_entry(index_keys_file: Path, entry: IndexKeyEntry) -> None:
    """Append the entry's table to the index-keys file (created when missing)."""
    index_keys_file.parent.mkdir(parents=True, exist_ok=True)
    with index_keys_file.open("a", encoding="utf-8") as out:
        out.write(("\n" if out.tell() else "") + entry_text(entry, index_keys_file))
