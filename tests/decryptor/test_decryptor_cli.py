"""`fle decrypt` as a user runs it: a real process, against each keystore backend."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor.config import MIN_PROCESS_BATCH
from fle.cmd_decrypt import render_table
from store import SqliteStore, Submission
from tests.fixtures_decryptor import BEFORE_ANY_BACKEND, DecryptEnv, proxy_encrypt

ROOT = Path(__file__).parents[2]


def fle_decrypt(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fle", "decrypt", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=60,
    )


@pytest.fixture
async def stored(decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey) -> list[Submission]:
    items = [
        Submission(fields={"name": "Jane", "phone": proxy_encrypt(rsa_key, b"404-555-0150")}),
        Submission(fields={"name": "Joe", "phone": proxy_encrypt(rsa_key, b"404-555-0199")}),
    ]
    store = SqliteStore(decrypt_env.store_path)
    for item in items:
        await store.put(item)
    await store.close()
    return items


async def test_ids_as_table_and_json(decrypt_env: DecryptEnv, stored: list[Submission]) -> None:
    ids = [item.id for item in stored]
    table = await asyncio.to_thread(fle_decrypt, "--id", ids[0], "--id", ids[1])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["id", "received", "field", "value"]
    assert lines[1].split() == [ids[0], stored[0].received_at, "name", "Jane"]
    assert lines[2].split() == ["phone", "404-555-0150"]
    assert lines[3].split()[:3] == [ids[1], stored[1].received_at, "name"]
    as_json = await asyncio.to_thread(fle_decrypt, "--json", "--id", *ids, "missing")
    assert as_json.returncode == 1
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["fields"].get("phone") for r in rows] == ["404-555-0150", "404-555-0199", None]
    assert rows[2]["error"] == "not_found"


async def test_recent_audits_the_cli_user_on_stderr_when_asked(
    decrypt_env: DecryptEnv, stored: list[Submission]
) -> None:
    result = await asyncio.to_thread(fle_decrypt, "--recent", "1", "--json", env={"FLE_AUDIT_FILE": "-"})
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [stored[1].id]
    audit = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(a["item_id"], a["field"], a["outcome"]) for a in audit] == [(stored[1].id, "phone", "decrypted")]
    assert audit[0]["caller"]["source"] == "cli" and audit[0]["caller"]["user"] == getpass.getuser()
    assert "404-555-0199" not in result.stderr


def test_ciphertexts_on_stdin(decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey) -> None:
    values = [proxy_encrypt(rsa_key, b"line one"), "", proxy_encrypt(rsa_key, b"x", name="Nope"), "  %%% "]
    result = fle_decrypt(stdin="\n".join(values) + "\n")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "#  plaintext",
        "1  line one",
        "2  ERROR: key_unknown",
        "3  ERROR: not_a_message",
    ]
    assert result.stderr.splitlines() == [  # the reasons in words, one line each; then where the audit went
        "fle decrypt: value 2: key_unknown: no private key for FLEDemo/Nope in this keystore",
        "fle decrypt: value 3: not_a_message: not standard base64",
        f"fle decrypt: the audit lines are in {decrypt_env.audit_path}",
    ]
    audit = sorted((json.loads(line) for line in decrypt_env.audit_lines()), key=lambda a: a["index"])
    assert [(a["reason"], a["detail"]) for a in audit[1:]] == [
        ("key_unknown", "no private key for FLEDemo/Nope in this keystore"),
        ("not_a_message", "not standard base64"),
    ]
    assert audit[0]["outcome"] == "decrypted"


def test_flags_override_the_environment(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    value = proxy_encrypt(rsa_key, b"x")
    refused = fle_decrypt("--json", "--accepted-suites", "0x0478", stdin=value)
    assert json.loads(refused.stdout) == {"error": "policy_refused"}
    (line,) = decrypt_env.audit_lines()
    assert json.loads(line)["detail"] == "algorithm suite 0x0178 is not accepted (accepted: 0x0478)"
    audit = tmp_path / "cli-audit.jsonl"
    ok = fle_decrypt(
        "--json",
        "--keystore",
        str(decrypt_env.keystore),
        "--workers",
        "2",
        "--audit-file",
        str(audit),
        stdin=value,
        env={"FLE_KEYSTORE": "/nonexistent"},
    )
    assert json.loads(ok.stdout) == {"plaintext": "x"}
    assert json.loads(audit.read_text())["outcome"] == "decrypted"


@BEFORE_ANY_BACKEND
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recent", "0"], '"recent" must be an integer from 1 to 1000'),
        (["--max-data-keys", "x"], "FLE_MAX_DATA_KEYS must be an integer"),
        (["--keystore", "/nonexistent/k.toml"], "cannot read keystore file"),
        (["--store", "mysql://db", "--recent", "1"], "store: 'mysql://db': unknown store"),
    ],
)
def test_usage_errors_are_one_line(decrypt_env: DecryptEnv, args: list[str], message: str) -> None:
    result = fle_decrypt(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_table_escapes_control_characters() -> None:
    answer = {"results": [{"plaintext": "a\nb\x1b[31m"}, {"plaintext_base64": "/wA="}]}
    assert render_table(answer).splitlines() == ["#  plaintext", "1  a\\nb\\x1b[31m", "2  (base64) /wA="]


@pytest.mark.parametrize("make_keystore", ["file_keystore_factory"], indirect=True)
def test_processes_flag_gives_the_same_answer(decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey) -> None:
    values = [proxy_encrypt(rsa_key, f"v{i}".encode(), name="Nope" if i % 9 == 0 else "DemoPublicKey")
              for i in range(MIN_PROCESS_BATCH)]  # fmt: skip
    answers = {}
    for processes in ("1", "2"):
        result = fle_decrypt("--json", "--processes", processes, stdin="\n".join(values) + "\n")
        assert result.returncode == 1, result.stderr
        answers[processes] = result.stdout
    assert answers["2"] == answers["1"]
    rows = [json.loads(line) for line in answers["2"].splitlines()]
    assert [r.get("plaintext", r.get("error")) for r in rows] == [
        "key_unknown" if i % 9 == 0 else f"v{i}" for i in range(MIN_PROCESS_BATCH)
    ]
    assert len(decrypt_env.audit_lines()) == 2 * MIN_PROCESS_BATCH
    refused = fle_decrypt("--processes", "0", stdin=values[1])
    assert refused.returncode == 2 and "FLE_DECRYPT_PROCESSES must be from 1 to 64, not 0" in refused.stderr
