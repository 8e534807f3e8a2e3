"""`fle match` and `fle reindex` at DEBUG, as processes: no plaintext (in any spelling, normalized included)
and no forged line in anything they write (stdout, stderr, the audit file)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from blindindex.keys import IndexKeys
from store import Submission
from tests.decryptor.index_support import edge_item, make_index_keys, make_indexed_config, put_all
from tests.fixtures_decryptor import proxy_encrypt
from tests.fixtures_process import ROOT, fle_command, fle_env
from tests.helpers import write_file_keystore
from tests.security.test_logs_debug import spellings

CANARIES = ("404-555-0161", "+1 (404) 555-0162", "404.555.0163")
FORGED = "2026-01-01 00:00:00,000 WARNING fle: FORGED"


def leaks(written: dict[str, bytes]) -> list[str]:
    secrets = {s for canary in CANARIES for s in spellings(canary)}
    secrets |= {"".join(c for c in canary if c.isdigit()) for canary in CANARIES}  # digits/1 normalized
    found = [
        f"{secret!r} in {name}"
        for name, data in written.items()
        for secret in secrets
        if secret.encode() in data
    ]
    forged = [
        f"forged line in {name}" for name, data in written.items() for line in data.splitlines()
        if line.startswith(FORGED.encode())
    ]  # fmt: skip
    return found + forged


def test_match_and_reindex_write_no_plaintext_at_debug(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    index_keys = make_index_keys(tmp_path / "index", "pii-2025", "pii-2026")
    config = make_indexed_config(tmp_path / "config", rsa_key, Key="pii-2026", PreviousKey="pii-2025")
    keys = IndexKeys.load(index_keys)
    items = [edge_item(rsa_key, keys, canary, index_key="pii-2025") for canary in CANARIES]
    forged_phone = proxy_encrypt(rsa_key, CANARIES[0].encode(), provider=f"FLEDemo\n{FORGED}")
    forged = Submission(fields={**items[0].fields, "phone": forged_phone})
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    asyncio.run(put_all(store_url, [*items, forged]))
    audit = tmp_path / "audit.jsonl"
    common = [
        "--config",
        str(config),
        "--keystore",
        str(keystore),
        "--store",
        store_url,
        "--audit-file",
        str(audit),
    ]
    ids = [item.id for item in [*items, forged]]
    term = proxy_encrypt(rsa_key, CANARIES[0].encode())
    runs = {
        "match": ["match", *common, "--field", "phone", "--term", term, *ids],
        "reindex": ["reindex", *common, "--index-keys", str(index_keys)],
        "match-json": ["match", *common, "--field", "phone", "--term", term, "--json", *ids],
    }
    written: dict[str, bytes] = {}
    for name, args in runs.items():
        done = subprocess.run(
            fle_command("--log-level", "DEBUG", *args),
            env=fle_env(),
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 1, (
            name,
            done.stderr[-2000:],
        )  # the forged item is refused, as it should be
        written[f"{name}.out"], written[f"{name}.err"] = done.stdout, done.stderr
    written["audit"] = audit.read_bytes()
    assert written["match.out"].split() == [items[0].id.encode()]  # the path really ran: one true match
    assert b"rewrote 3 beacons" in written["reindex.out"] or b"already current" in written["reindex.out"]
    assert b"FLEDemo\\n2026-01-01" in written["reindex.out"]  # the forged provider id, escaped on its line
    assert leaks(written) == []
