"""IndexKeys: the index keys of one index-keys file, and the one call the edge makes, `beacon(...)`.

    keys = IndexKeys.load("index-keys.toml")          # IndexKeysError: file, entry and setting named
    keys.prepare("pii-2026", "phone")                 # optional, at start: derive / find the key now
    keys.beacon("pii-2026", "phone", 16, normalized)  # -> "3f0a": the standard beacon, as hex
    keys.field_beacon(profile_index, "+1 404-555-0150")  # the same, normalizing by the index's normalizer
    keys.close()

File entries read their root key when the file loads (mode and format checked then) and derive each
index's HMAC key once (HKDF-SHA512), kept for the process. PKCS#11 entries open their token on first use
(or `prepare`), in the process that uses them. Thread-safe: worker threads may call `beacon` at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .beacon import check_bits, truncate
from .errors import UnknownIndexKey
from .file_key import FileIndexKey
from .normalizers import get_normalizer
from .settings import FileKeySettings, IndexKeyEntry, read_index_keys

if TYPE_CHECKING:  # python-pkcs11 is imported only when a pkcs11 entry is loaded
    from .pkcs11_key import Pkcs11IndexKey


class IndexSpec(Protocol):
    """What `field_beacon` needs of an index; profiles.BlindIndex has it (blindindex imports no profiles)."""

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def bits(self) -> int: ...
    @property
    def normalize(self) -> str: ...


class IndexKeys:
    """The keys of an index-keys file, by name; computes beacons."""

    def __init__(self, entries: dict[str, IndexKeyEntry], source: Path) -> None:
        self.source = source
        self.entries = entries
        self._keys: dict[str, FileIndexKey | Pkcs11IndexKey] = {}
        for name, entry in entries.items():
            if isinstance(entry.settings, FileKeySettings):
                self._keys[name] = FileIndexKey(entry.settings.path)
            else:
                from .pkcs11_key import Pkcs11IndexKey

                self._keys[name] = Pkcs11IndexKey(entry.settings)

    @classmethod
    def load(cls, path: str | Path) -> IndexKeys:
        """Read the file, check every entry and read every file root key; IndexKeysError on any problem."""
        source = Path(path)
        return cls(read_index_keys(source), source)

    @property
    def names(self) -> frozenset[str]:
        """The index-key names this file defines (what profiles' "Key" may name)."""
        return frozenset(self.entries)

    def _key(self, key_name: str) -> FileIndexKey | Pkcs11IndexKey:
        try:
            return self._keys[key_name]
        except KeyError:
            known = ", ".join(sorted(self._keys)) or "none"
            raise UnknownIndexKey(
                f"{self.source}: no index_key named {key_name!r} (known: {known})"
            ) from None

    def prepare(self, key_name: str, index_name: str) -> None:
        """Derive (file) or find in the token (pkcs11) the index's key now: `beacon`'s errors, at start."""
        self._key(key_name).prepare(index_name)

    def beacon(self, key_name: str, index_name: str, bits: int, normalized_value: str) -> str:
        """The standard beacon of `normalized_value` for index `index_name` under index key `key_name`:
        ceil(bits / 4) lowercase hex characters. BlindIndexError (UnknownIndexKey, TokenError) if it
        cannot be computed: the caller must then refuse the request, never forward the field."""
        check_bits(bits)
        return truncate(self._key(key_name).mac(index_name, normalized_value.encode("utf-8")), bits)

    def field_beacon(self, index: IndexSpec, value: str) -> str:
        """The beacon of a field's plaintext `value` for a profile's index: normalized by the index's
        normalizer, then `beacon(index.key, index.name, index.bits, ...)`. NormalizeError when the
        normalizer refuses the value (a client's mistake: refuse the request with a 4xx); any other
        BlindIndexError is the edge's (refuse with a 5xx). Never forward the field without its beacon."""
        normalized = get_normalizer(index.normalize).apply(value)
        return self.beacon(index.key, index.name, index.bits, normalized)

    def close(self) -> None:
        """Forget derived keys and close token sessions."""
        for key in self._keys.values():
            key.close()

    def __enter__(self) -> IndexKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["IndexKeys", "IndexSpec"]
