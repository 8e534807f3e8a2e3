"""Key rotation end to end, on real sockets: proxy -> origin -> SQLite, then `fle rewrap`, then the handler.

The procedure of docs/key-rotation.md, step by step: a config with key A; submissions; `fle keys create`
makes key B (public key JSON into the config dir, entry into the keystore); the profile's entity moves to B;
the proxy reloads (what SIGHUP runs); more submissions; old and new items both decrypt; `fle rewrap`
moves every stored value to B; afterwards every item opens with B alone and none with A alone. Run with
key A held in a file and in a SoftHSM token.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from decryptor import handler
from decryptor.rewrap import parse
from edge_proxy import ConfigSource, ProxySettings, Runtime, build_app
from edge_proxy.pipeline.reload import reload_config
from fle import cli
from origin import build_app as build_origin
from profiles import load_config_dir
from store import SqliteStore, Submission
from tests.fixtures_softhsm import SoftHsm, import_key
from tests.helpers import edit_json, make_config_dir, raw_master_key, serving, write_file_keystore

PROVIDER = "FLEDemo"
OLD, NEW = "DemoPublicKey", "DemoPublicKey2"


@dataclass
class Rotation:
    tmp: Path
    config_dir: Path
    keystore: Path  # both keys once `rotate` ran
    store_path: Path
    proxy: str
    runtime: Runtime
    old_key: rsa.RSAPrivateKey

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.store_path}"

    async def submit(self, phone: str, name: str = "Jane Doe") -> str:
        async with aiohttp.ClientSession() as session:
            form = {"name": name, "phone": phone}
            async with session.post(f"{self.proxy}/submit", data=form) as response:
                assert response.status == 200, await response.text()
                return response.headers["X-Submission-Id"]

    async def rotate(self) -> None:
        """`fle keys create` for key B into the config dir and keystore; the entity moves to it; reload."""
        code = await asyncio.to_thread(
            cli.main,
            ["keys", "create", "--backend", "file", "--provider-id", PROVIDER, "--key-name", NEW,
             "--config", str(self.config_dir), "--path", str(self.tmp / "ks" / "new.pem"),
             "--passphrase-env", "TEST_KEY_PASSPHRASE", "--keystore", str(self.keystore)],
        )  # fmt: skip
        assert code == 0
        new_id = json.loads((self.config_dir / f"{NEW}.public-key.json").read_text())["PublicKey"]["Id"]

        def point_at_new(document: dict[str, Any]) -> None:
            config = document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
            config["EncryptionEntities"]["Items"][0]["PublicKeyId"] = new_id

        edit_json(self.config_dir / "profile.json", point_at_new)
        assert await reload_config(self.runtime)

    def new_private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key((self.tmp / "ks" / "new.pem").read_bytes(), b"pw")
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def keystore_with_new_key_only(self) -> Path:
        path = self.tmp / "ks-new-only" / "keystore.toml"
        path.parent.mkdir()
        path.write_text(
            f'[[key]]\nprovider_id = "{PROVIDER}"\nkey_name = "{NEW}"\nbackend = "file"\n'
            f'path = "{self.tmp / "ks" / "new.pem"}"\npassphrase_env = "TEST_KEY_PASSPHRASE"\n'
        )
        return path


def _keystore_with_old_key(tmp: Path, backend: str, key: rsa.RSAPrivateKey, softhsm: SoftHsm | None) -> Path:
    if backend == "file":
        return write_file_keystore(tmp / "ks", key, "pw", provider_id=PROVIDER, name=OLD)
    assert softhsm is not None
    label = f"rotation-old-{tmp.name}"[-60:]
    import_key(softhsm.module, "fle-gen", key, label)
    path = tmp / "ks" / "keystore.toml"
    path.parent.mkdir(parents=True)
    path.write_text(softhsm.keystore_entry("fle-gen", label, provider_id=PROVIDER, key_name=OLD))
    return path


@pytest.fixture(params=["file", "pkcs11"])
async def rotation(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Rotation]:
    softhsm = request.getfixturevalue("softhsm") if request.param == "pkcs11" else None
    if softhsm:
        request.getfixturevalue("pkcs11_pin")
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    keystore = _keystore_with_old_key(tmp_path, request.param, rsa_key, softhsm)
    config_dir = make_config_dir(tmp_path / "config", rsa_key)
    store_path = tmp_path / "store.db"
    monkeypatch.setenv("FLE_STORE", f"sqlite:///{store_path}")
    monkeypatch.setenv("FLE_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    handler.reset_cache()
    settings = ProxySettings(
        origin=URL("http://127.0.0.1:1"),  # replaced below, once the origin listens
        config=load_config_dir(config_dir).only_config(),
        source=ConfigSource(config_dir),
    )
    async with serving(build_origin(SqliteStore(store_path))) as origin_url:
        runtime = Runtime(ProxySettings(**{**_fields(settings), "origin": URL(origin_url)}))
        async with serving(build_app(runtime), auto_decompress=False) as proxy_url:
            yield Rotation(tmp_path, config_dir, keystore, store_path, proxy_url, runtime, rsa_key)
    handler.reset_cache()


def _fields(settings: ProxySettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def decrypt_items(keystore: Path, ids: list[str], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setenv("FLE_KEYSTORE", str(keystore))
    return handler.lambda_handler({"ids": ids}, None)["items"]  # type: ignore[no-any-return]


def key_names(item: Submission) -> set[str]:
    return {
        k.key_name.decode()
        for name in item.encrypted_fields
        for k in parse(base64.b64decode(item.fields[name])).data_keys
    }


def sdk_opens(value: str, key: rsa.RSAPrivateKey, name: str) -> bool:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    try:
        client.decrypt(source=base64.b64decode(value), key_provider=raw_master_key(key, PROVIDER, name))
    except aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError:
        return False
    return True


async def rewrap_cli(*extra: str, keystore: Path, store_url: str) -> int:
    argv = ["rewrap", "--from", f"{PROVIDER}/{OLD}", "--to", f"{PROVIDER}/{NEW}", "--keystore", str(keystore)]
    return await asyncio.to_thread(cli.main, [*argv, "--store", store_url, *extra])


async def test_rotation_then_rewrap_leaves_every_item_decryptable_with_the_new_key_only(
    rotation: Rotation, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    phones = [f"404-555-01{n:02d}" for n in range(12)]
    before = [await rotation.submit(p) for p in phones[:8]]
    await rotation.rotate()
    after = [await rotation.submit(p) for p in phones[8:]]
    ids = before + after
    store = SqliteStore(rotation.store_path)
    try:
        items = await store.get_many(ids)
        assert [key_names(items[i]) for i in ids] == [{OLD}] * 8 + [{NEW}] * 4  # the proxy switched keys
        # during the switch the decryptor holds both keys: old and new items open side by side
        answers = await asyncio.to_thread(decrypt_items, rotation.keystore, ids, monkeypatch)
        assert [a["fields"]["phone"] for a in answers] == phones
        assert all(not a["errors"] for a in answers)

        code = await rewrap_cli("--config", str(rotation.config_dir), keystore=rotation.keystore,
                                store_url=rotation.store_url)  # fmt: skip
        out = capsys.readouterr()
        assert code == 0, out
        assert "re-wrapped 8 values in 8 items" in out.out
        assert "rewrap: 8/8 items" in out.err
        audit = [json.loads(line) for line in (rotation.tmp / "audit.jsonl").read_text().splitlines()]
        rewrapped = [a for a in audit if a["event"] == "fle.rewrap"]
        assert sorted(a["item_id"] for a in rewrapped) == sorted(before)
        assert {(a["outcome"], a["field"], a["to"]["key_name"]) for a in rewrapped} == {
            ("rewrapped", "phone", NEW)
        }
        audit_text = (rotation.tmp / "audit.jsonl").read_text()
        assert not any(p in audit_text for p in phones)  # never a plaintext
        assert not any(p.encode() in rotation.store_path.read_bytes() for p in phones)

        items = await store.get_many(ids)
        assert all(key_names(items[i]) == {NEW} for i in ids)
        for i in ids:  # name and everything but the re-wrapped value as it was
            assert items[i].fields["name"] == "Jane Doe" and items[i].encrypted_fields == ("phone",)
        new_key = rotation.new_private_key()
        for i in ids:
            assert sdk_opens(items[i].fields["phone"], new_key, NEW)
            assert not sdk_opens(items[i].fields["phone"], rotation.old_key, OLD)
    finally:
        await store.close()

    # the old key can go: a keystore without it opens everything
    answers = await asyncio.to_thread(decrypt_items, rotation.keystore_with_new_key_only(), ids, monkeypatch)
    assert [a["fields"]["phone"] for a in answers] == phones and all(not a["errors"] for a in answers)
    # and a keystore with only the old key opens nothing
    old_only = write_file_keystore(
        rotation.tmp / "ks-old-only", rotation.old_key, "pw", provider_id=PROVIDER, name=OLD
    )
    answers = await asyncio.to_thread(decrypt_items, old_only, ids, monkeypatch)
    assert all(a["errors"] == {"phone": "key_unknown"} for a in answers)
    audit = [json.loads(line) for line in (rotation.tmp / "audit.jsonl").read_text().splitlines()]
    refused = [a for a in audit if a["event"] == "fle.decrypt" and a["outcome"] == "refused"]
    assert {(a["item_id"], a["reason"], a["detail"]) for a in refused} == {
        (i, "key_unknown", f"no private key for {PROVIDER}/{NEW} in this keystore") for i in ids
    }

    # a second run finds nothing to do: idempotent, resumable
    assert await rewrap_cli(keystore=rotation.keystore, store_url=rotation.store_url) == 0
    assert "0 held values for the old key" in capsys.readouterr().out
