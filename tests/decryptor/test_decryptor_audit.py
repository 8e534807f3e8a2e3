"""The audit log: one JSON line per protected value, who asked and with which key, never the plaintext;
and the SDK's own noise on failed decrypts kept out of stdout, stderr and logs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from decryptor import AuditLog, Caller, DecryptError, Subject, handler
from decryptor.reasons import Reason
from store import SqliteStore, Submission
from tests.fixtures_decryptor import BEFORE_ANY_BACKEND, DecryptEnv, logged_refusal, proxy_encrypt

PLAINTEXTS = ["404-555-0150", "4111-1111-1111-1111", "Jane's secret ☎"]


class FakeContext:
    """The attributes of a Lambda context object the handler reads (a plain record, as Lambda passes)."""

    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fle-decrypt"
    identity = None


async def test_one_line_per_protected_field_with_caller_and_key(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    item = Submission(
        fields={
            "name": "Jane Doe",  # not protected: not audited
            "phone": proxy_encrypt(rsa_key, PLAINTEXTS[0].encode()),
            "card": proxy_encrypt(other_rsa_key, PLAINTEXTS[1].encode(), name="OldKey"),
            "ssn": proxy_encrypt(rsa_key, b"x", name="Unknown"),
        }
    )
    store = SqliteStore(decrypt_env.store_path)
    await store.put(item)
    await store.close()
    await asyncio.to_thread(handler.lambda_handler, {"ids": [item.id]}, FakeContext())
    lines = [json.loads(line) for line in decrypt_env.audit_lines()]
    by_field = {line["field"]: line for line in lines}
    assert set(by_field) == {"phone", "card", "ssn"}
    caller = {
        "source": "lambda",
        "request_id": FakeContext.aws_request_id,
        "function_arn": FakeContext.invoked_function_arn,
    }
    assert by_field["phone"] == {
        "time": by_field["phone"]["time"],
        "event": "fle.decrypt",
        "outcome": "decrypted",
        "caller": caller,
        "item_id": item.id,
        "field": "phone",
        "index": None,
        "provider_id": "FLEDemo",
        "key_name": "DemoPublicKey",
        "suite": "0x0178",
    }
    assert by_field["phone"]["time"].endswith("Z")
    assert (by_field["card"]["outcome"], by_field["card"]["key_name"]) == ("decrypted", "OldKey")
    assert by_field["ssn"] | {"time": "t"} == {
        "time": "t",
        "event": "fle.decrypt",
        "outcome": "refused",
        "caller": caller,
        "item_id": item.id,
        "field": "ssn",
        "index": None,
        "provider_id": "FLEDemo",
        "key_name": "Unknown",
        "suite": "0x0178",
        "reason": "key_unknown",
        "detail": "no private key for FLEDemo/Unknown in this keystore",
    }


def test_refusals_carry_the_detail_only_in_the_audit(
    decrypt_env: DecryptEnv, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    wrong_key = proxy_encrypt(other_rsa_key, b"x")
    answer = handler.lambda_handler({"ciphertexts": [wrong_key, "%%%"]}, None)
    assert answer["results"] == [{"error": "decrypt_failed"}, {"error": "not_a_message"}]
    first, second = sorted((json.loads(line) for line in decrypt_env.audit_lines()), key=lambda r: r["index"])
    assert (first["index"], first["item_id"], first["caller"]) == (0, None, {"source": "local"})
    assert (first["reason"], first["detail"]) == (
        "decrypt_failed",
        "message could not be decrypted (corrupt, tampered or wrong key); "
        "DecryptKeyError: Unable to decrypt any data key; UnwrapError: the data key could not be unwrapped",
    )
    assert (second["index"], second["reason"], second["detail"], second["provider_id"]) == (
        1,
        "not_a_message",
        "not standard base64",
        None,
    )


def test_audit_never_holds_plaintext(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = [proxy_encrypt(rsa_key, p.encode()) for p in PLAINTEXTS]
    answer = handler.lambda_handler({"ciphertexts": values}, None)
    assert [r["plaintext"] for r in answer["results"]] == PLAINTEXTS  # they were decrypted...
    monkeypatch.delenv("FLE_AUDIT_FILE")  # ...and once more with the audit on stdout
    handler.lambda_handler({"ciphertexts": values}, None)
    captured = capfd.readouterr()
    stdout_lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(stdout_lines) == len(PLAINTEXTS) and len(decrypt_env.audit_lines()) == len(PLAINTEXTS)
    audit = decrypt_env.audit_path.read_text() + captured.out + captured.err
    for plaintext in PLAINTEXTS:
        for form in (plaintext, json.dumps(plaintext)[1:-1], base64.b64encode(plaintext.encode()).decode()):
            assert form not in audit


def test_audit_lines_from_many_threads_stay_whole(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "a.jsonl"))
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for i in range(400):
            pool.submit(
                log.record,
                Caller("cli", {"user": "u"}),
                Subject(index=i),
                DecryptError(Reason.DECRYPT_FAILED, "r" * 500),
            )
    log.close()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["index"] for line in lines) == list(range(400))


@BEFORE_ANY_BACKEND
def test_unwritable_audit_file_is_a_config_error(
    decrypt_env: DecryptEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLE_AUDIT_FILE", str(decrypt_env.audit_path.parent / "no" / "such" / "dir" / "a"))
    assert handler.lambda_handler({"ciphertexts": []}, None) == {"error": "config_error"}
    assert logged_refusal(caplog).startswith(
        "decrypt request refused: config_error (500): config: cannot open audit file"
    )


def test_no_sdk_noise_on_failed_decrypts(
    decrypt_env: DecryptEnv,
    rsa_key: rsa.RSAPrivateKey,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tampered and truncated messages make the SDK log "Error on closing" tracebacks; none gets out, even
    with logging configured at DEBUG on the root logger as a Lambda runtime or an app might."""
    good = proxy_encrypt(rsa_key, b"404-555-0150")
    message = bytearray(base64.b64decode(good))
    message[-5] ^= 1
    values = [
        base64.b64encode(bytes(message)).decode(),  # tampered tag
        good[: len(good) - 24],  # truncated body
        good[:200],  # truncated header
        "AYABeA" + "A" * 100,
    ]
    root = logging.getLogger()
    stream = logging.StreamHandler()  # writes to stderr, which capfd sees
    root.addHandler(stream)
    caplog.set_level(logging.DEBUG)
    try:
        results = handler.lambda_handler({"ciphertexts": values}, None)["results"]
    finally:
        root.removeHandler(stream)
    assert all("error" in r for r in results)
    captured = capfd.readouterr()
    for output in (captured.out, captured.err, caplog.text):
        assert "Traceback" not in output and "Error on closing" not in output


def test_events_written_together_are_one_write_whole_lines_and_none_for_nothing(tmp_path: Path) -> None:
    """reveal writes a phase's lines for all of a request's values with `events`: one write and one flush
    (the lines reach the file before it returns), contiguous even with other threads writing."""
    import concurrent.futures
    import io

    class Writes(io.StringIO):  # a real text stream that also notes each write it is given
        def __init__(self) -> None:
            super().__init__()
            self.writes = 0

        def write(self, s: str) -> int:
            self.writes += 1
            return super().write(s)

    stream = Writes()
    log = AuditLog(stream=stream)
    log.events([{"event": "t", "n": i} for i in range(3)])
    log.events([])
    assert stream.writes == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["n"] for line in lines] == [0, 1, 2] and len({line["time"] for line in lines}) == 1

    log = AuditLog(str(tmp_path / "a.jsonl"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for i in range(200):
            lines = [{"event": "t", "request": i, "n": n, "pad": "p" * 300} for n in range(3)]
            pool.submit(log.events, lines)
    log.close()
    written = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert len(written) == 600
    for start in range(0, 600, 3):  # each request's three lines together, in order
        group = written[start : start + 3]
        assert [line["n"] for line in group] == [0, 1, 2] and len({line["request"] for line in group}) == 1


def test_events_are_written_in_pieces_of_at_most_pipe_buf_a_line_never_split() -> None:
    """Several lines go in one write only while it stays within PIPE_BUF (4096 bytes), the size up to which
    a write to a pipe shared by several processes never interleaves with another's; a longer line is one
    write of its own, as every line was before."""
    import io

    class Writes(io.StringIO):  # a real text stream that also notes each write it is given
        def __init__(self) -> None:
            super().__init__()
            self.sizes: list[int] = []

        def write(self, s: str) -> int:
            self.sizes.append(len(s.encode("utf-8")))
            return super().write(s)

    stream = Writes()
    log = AuditLog(stream=stream)
    log.events(
        [{"event": "t", "n": n, "pad": "é" * 600} for n in range(10)] + [{"event": "t", "pad": "x" * 5000}]
    )
    assert len(stream.sizes) > 1 and all(size <= 4096 for size in stream.sizes[:-1])
    assert stream.sizes[-1] > 4096  # the long line alone
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("n") for line in lines] == [*range(10), None]
