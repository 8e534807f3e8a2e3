"""Parser differentials: a corpus of hostile requests sent as raw bytes through the real proxy.

The rule (docs/security.md, "Reading bodies like any origin"): the proxy either refuses a request with a
4xx and a reason, or forwards a body in which no parser finds a protected value in plaintext. Every case
below goes over a socket to the proxy, which forwards to the canary origin (it fails the test on any
plaintext byte sequence); what the canary received is then read by several framework parsers
(tests/differential_parsers.py), and the test fails if any of them finds a protected plaintext anywhere.
Each case also states the outcome we chose for it, so a change of behaviour is seen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from testkit.corpus import (
    FORM_CASES,
    FRAMING_CASES,
    JSON,
    JSON_CASES,
    MULTI,
    MULTIPART_CASES,
    NUMBER,
    PHONE,
    SECRETS,
    Case,
    corpus_config_dir,
    part,
    raw_request,
)
from tests.differential_parsers import FORM_PARSERS, JSON_PARSERS, MULTIPART_PARSERS, decoded
from tests.fixtures_proxy import (
    FORM,
    Canary,
    proxy_stack,
)


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return corpus_config_dir(tmp_path / "cfg", rsa_key)


async def raw_exchange(url: str, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send raw bytes to the proxy; the status code (0: no answer) and everything it answered."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0
    return status, answer


def plaintexts_found(parsers: dict[str, Any], body: bytes, content_type: str) -> list[str]:
    found = []
    for parser, read in parsers.items():
        try:
            pairs = read(body, content_type)
        except Exception as e:  # a parser that cannot read the body finds nothing in it
            pairs = [("<error>", repr(e))]
        for name, value in pairs:
            for secret in SECRETS:
                if secret in value:
                    found.append(f"{parser} found {secret!r} under {name!r}")
    return found


async def run_case(canary: Canary, config_dir: Path, case: Case, parsers: dict[str, Any]) -> None:
    canary.protect(*SECRETS)
    async with proxy_stack(canary, config_dir) as stack:
        status, answer = await raw_exchange(stack.url, raw_request(case))
    if case.outcome in ("refuse", "server"):
        assert 400 <= status < 500, answer[:300]
        assert (b'"error"' in answer) == (case.outcome == "refuse"), answer[:300]
        assert canary.received == []
        return
    assert status == 200, answer[:400]
    received = canary.last
    body = decoded(received.body, received.headers.get("Content-Encoding", ""))
    found = await asyncio.to_thread(plaintexts_found, parsers, body, received.headers.get("Content-Type", ""))
    assert not found, found


@pytest.mark.parametrize("case", FORM_CASES, ids=lambda c: c.id)
async def test_form_corpus(canary: Canary, config_dir: Path, case: Case) -> None:
    await run_case(canary, config_dir, case, FORM_PARSERS)


@pytest.mark.parametrize("case", MULTIPART_CASES, ids=lambda c: c.id)
async def test_multipart_corpus(canary: Canary, config_dir: Path, case: Case) -> None:
    await run_case(canary, config_dir, case, MULTIPART_PARSERS)


@pytest.mark.parametrize("case", JSON_CASES, ids=lambda c: c.id)
async def test_json_corpus(canary: Canary, config_dir: Path, case: Case) -> None:
    await run_case(canary, config_dir, case, JSON_PARSERS)


def test_the_parsers_do_find_plaintext() -> None:
    """The check can fail: every parser finds the secret in bodies where it is plain."""
    assert len(plaintexts_found(FORM_PARSERS, f"PHONE={PHONE}".encode(), FORM)) >= len(FORM_PARSERS)
    body = b"--B0undary\r\n" + part(
        b"x", b"=34=30=34-555-0150", b"Content-Transfer-Encoding: quoted-printable\r\n"
    )
    found = plaintexts_found(MULTIPART_PARSERS, body + b"\r\n--B0undary--", MULTI)
    assert any(f.startswith("email") for f in found), found
    assert plaintexts_found(JSON_PARSERS, f'{{"x": {NUMBER}}}'.encode(), JSON)


@pytest.mark.parametrize(
    ("request_bytes", "expected"), [c[1:] for c in FRAMING_CASES], ids=[c[0] for c in FRAMING_CASES]
)
async def test_framing_corpus(canary: Canary, config_dir: Path, request_bytes: bytes, expected: int) -> None:
    """Ambiguous message framing is refused; plain chunked bodies are read whole and encrypted."""
    canary.protect(*SECRETS)
    async with proxy_stack(canary, config_dir) as stack:
        status, answer = await raw_exchange(stack.url, request_bytes)
    assert status == expected, answer[:300]
    if expected == 200:
        found = await asyncio.to_thread(plaintexts_found, FORM_PARSERS, canary.last.body, FORM)
        assert not found and canary.last.body.startswith(b"phone=AYA"), (found, canary.last.body[:80])
    else:
        assert canary.received == []
