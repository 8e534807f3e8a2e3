"""Stored items as the edge writes them under a blind index, for the match and reindex tests.

The value is the edge's ciphertext (edge_proxy's encoder, as tests/fixtures_decryptor.proxy_encrypt) and
its beacon the standard beacon blindindex computes, under a file index key made as `fle index keys create`
makes one. The config is the sample one (pattern `phone`) with an "Fle:Indexes" entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex import normalize
from blindindex.keys import IndexKeys
from blindindex.settings import FileKeySettings, IndexKeyEntry
from blindindex.tooling import append_entry, create_root_key_file
from store import Submission, open_store
from tests.fixtures_decryptor import proxy_encrypt
from tests.helpers import edit_json, make_config_dir

PHONE_INDEX: dict[str, Any] = {"Field": "phone", "Name": "phone", "Key": "pii-2026", "Bits": 16,
                               "Normalize": "digits"}  # fmt: skip


def make_index_keys(directory: Path, *names: str) -> Path:
    """An index-keys file with a new file root key (mode 0600) for each name."""
    directory.mkdir(parents=True, exist_ok=True)
    toml = directory / "index-keys.toml"
    for name in names:
        root = directory / f"{name}.hex"
        create_root_key_file(root)
        append_entry(toml, IndexKeyEntry(name, FileKeySettings(root)))
    return toml


def make_indexed_config(directory: Path, key: rsa.RSAPrivateKey, **index: Any) -> Path:
    """The sample config (pattern `phone`) with one index on `phone`, PHONE_INDEX changed by `index`."""
    make_config_dir(directory, key)

    def edit(document: dict[str, Any]) -> None:
        profile = document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
        profile["Fle:Indexes"] = [{**PHONE_INDEX, **index}]

    edit_json(directory / "profile.json", edit)
    return directory


def edge_item(
    key: rsa.RSAPrivateKey,
    keys: IndexKeys,
    phone: str,
    *,
    index_key: str = "pii-2026",
    bits: int = 16,
    key_name: str = "DemoPublicKey",
    extra: dict[str, str] | None = None,
) -> Submission:
    """A submission as the origin stores what the edge forwards: `phone` encrypted, its beacon beside it."""
    beacon = keys.beacon(index_key, "phone", bits, normalize("digits", phone))
    ciphertext = proxy_encrypt(key, phone.encode(), name=key_name)
    fields = {"name": "Jane", "phone": ciphertext, "phone__bidx": beacon}
    return Submission(fields={**fields, **(extra or {})}, encrypted_fields=("phone",))


async def put_all(store_url: str, items: Sequence[Submission]) -> None:
    store = open_store(store_url)
    try:
        for item in items:
            await store.put(item)
    finally:
        await store.close()


async def all_items(store_url: str) -> dict[str, Submission]:
    store = open_store(store_url, create=False)
    try:
        return {item.id: item async for page in store.scan() for item in page}
    finally:
        await store.close()


def lookup(items: dict[str, Submission], beacons: Sequence[str]) -> list[str]:
    """The ids a lookup by beacon finds (the union over `beacons`), as store.find answers: ascending ids.
    (A scan here: this branch's store has no find yet; the lookup's semantics are the same.)"""
    return sorted(i for i, item in items.items() if item.fields.get("phone__bidx") in beacons)


def audit_records(path: Path, event: str) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [record for record in map(json.loads, lines) if record["event"] == event]
