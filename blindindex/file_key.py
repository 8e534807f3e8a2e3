"""`backend = "file"`: the root key from a file of 64 hex characters, per-index keys derived by HKDF."""

from __future__ import annotations

import hashlib
import hmac
import stat
import threading
from pathlib import Path

from .beacon import ROOT_KEY_BYTES, derive_index_key
from .errors import IndexKeysError


def read_root_key(path: Path) -> bytes:
    """The 32-byte root key in `path`; IndexKeysError unless the file is owner-only (0600 or 0400) and holds
    exactly 64 hex characters (surrounding white space allowed)."""
    try:
        info = path.stat()
    except OSError as e:
        raise IndexKeysError(f"cannot read index root key file {str(path)!r}: {e.strerror}") from e
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IndexKeysError(
            f"index root key file {str(path)!r} has mode {mode:04o}, readable beyond its owner; "
            f"it must be 0600: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise IndexKeysError(f"cannot read index root key file {str(path)!r}: {e}") from e
    if len(text) != 2 * ROOT_KEY_BYTES or text.strip("0123456789abcdefABCDEF"):
        raise IndexKeysError(
            f"index root key file {str(path)!r} must hold {ROOT_KEY_BYTES} bytes as {2 * ROOT_KEY_BYTES} hex "
            "characters (fle index keys create writes one)"
        )
    return bytes.fromhex(text)


class FileIndexKey:
    """A root key in memory; each index's HMAC key derived once (HKDF-SHA512) and kept, as a keyed
    HMAC-SHA384 that each call copies (half the cost of keying HMAC again for every value)."""

    def __init__(self, path: Path) -> None:
        self._root = read_root_key(path)
        self._keyed: dict[str, hmac.HMAC] = {}
        self._lock = threading.Lock()

    def _hmac(self, index_name: str) -> hmac.HMAC:
        keyed = self._keyed.get(index_name)
        if keyed is None:
            with self._lock:
                keyed = self._keyed.get(index_name)
                if keyed is None:
                    index_key = derive_index_key(self._root, index_name)
                    keyed = self._keyed[index_name] = hmac.new(index_key, digestmod=hashlib.sha384)
        return keyed

    def prepare(self, index_name: str) -> None:
        """Derive the index's HMAC key now."""
        self._hmac(index_name)

    def mac(self, index_name: str, data: bytes) -> bytes:
        """HMAC-SHA384 of `data` under the index's key (the specification's "HMAC Key Generation")."""
        mac = self._hmac(index_name).copy()
        mac.update(data)
        return mac.digest()

    def close(self) -> None:
        self._keyed.clear()
