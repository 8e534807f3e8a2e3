"""Reveal end to end with real pieces: a fake payment processor over TLS on loopback (a CA the test makes),
ciphertext written by the edge's encoder and by aws-encryption-sdk, keys from the file keystore here (every
backend in test_reveal_backends.py). Each refusal shows that nothing reached the processor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_decryptor import KeySpec, proxy_encrypt, sdk_encrypt
from tests.fixtures_process import eventually_async
from tests.helpers import write_file_keystore
from tests.reveal_support import (
    HUGE_PIECES,
    OTHER_TOKEN,
    STREAMED_PIECES,
    TOKEN,
    Processor,
    RevealUnderTest,
    bearer,
    make_pki,
    processor,
    reveal_running,
    write_routes,
)

CARD = b"4111111111111111"


@pytest.fixture
def file_keystore(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey,
                  monkeypatch: pytest.MonkeyPatch) -> Path:  # fmt: skip
    """DemoPublicKey (the route's key) and OldKey (a key the keystore holds but the route may not use)."""
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    write_file_keystore(tmp_path / "ks", rsa_key, "pw", provider_id="FLEDemo", name="DemoPublicKey")
    return write_file_keystore(tmp_path / "ks", other_rsa_key, "pw", provider_id="FLEDemo", name="OldKey")


@pytest.fixture
async def stack(tmp_path: Path, file_keystore: Path) -> AsyncIterator[tuple[RevealUnderTest, Processor]]:
    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl") as rev:
            yield rev, proc


async def post(url: str, body: bytes | str, content_type: str, headers: dict[str, str] | None = None,
               method: str = "POST") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        sent = {"Content-Type": content_type, **(headers or {})}
        async with session.request(method, url, data=body, allow_redirects=False, headers=sent) as r:
            return r.status, dict(r.headers), await r.read()


FORM = "application/x-www-form-urlencoded"


async def test_a_form_field_from_the_edge_is_revealed_and_the_rest_kept(stack, rsa_key) -> None:
    rev, proc = stack
    ciphertext = proxy_encrypt(rsa_key, CARD)
    body = f"amount=12%2E50&card_number={urllib.parse.quote(ciphertext, safe='')}&note=a+b"
    status, headers, answer = await post(
        f"{rev.url}/processor/charges?idem=1", body, FORM, {**bearer(), "Authorization": "Basic cHJvYzp4"}
    )
    assert status == 201 and headers["X-Processor"] == "fake"
    assert len(proc.seen) == 1
    seen = proc.seen[0]
    assert seen.path_qs == "/v1/charges?idem=1"
    assert seen.body == b"amount=12%2E50&card_number=" + CARD + b"&note=a+b"  # other bytes as sent
    assert seen.headers["Content-Length"] == str(len(seen.body))
    assert seen.headers["Authorization"] == "Basic cHJvYzp4"  # forwarded unchanged
    assert "Proxy-Authorization" not in seen.headers  # never forwarded
    assert json.loads(answer)["received"] == seen.body.decode()  # the answer streamed back unchanged


async def test_a_json_pointer_written_by_the_sdk_is_revealed(stack, rsa_key) -> None:
    rev, proc = stack
    ciphertext = sdk_encrypt([KeySpec(rsa_key)], b"5500 0000 0000 0004")
    body = json.dumps({"card": {"number": ciphertext, "exp": "12/30"}, "amount": 5})
    status, _, _ = await post(f"{rev.url}/processor/charges", body, "application/json", bearer())
    assert status == 201
    expected = {"card": {"number": "5500 0000 0000 0004", "exp": "12/30"}, "amount": 5}
    assert json.loads(proc.seen[0].body) == expected


async def test_a_multipart_part_is_revealed(stack, rsa_key) -> None:
    rev, proc = stack
    ciphertext = proxy_encrypt(rsa_key, CARD)
    body = (
        f'--XyZ\r\nContent-Disposition: form-data; name="card_number"\r\n\r\n{ciphertext}\r\n'
        '--XyZ\r\nContent-Disposition: form-data; name="amount"\r\n\r\n10\r\n--XyZ--\r\n'
    )
    multipart = "multipart/form-data; boundary=XyZ"
    status, _, _ = await post(f"{rev.url}/processor/charges", body, multipart, bearer())
    assert status == 201
    assert proc.seen[0].body == body.replace(ciphertext, CARD.decode()).encode()


async def test_a_value_that_is_not_a_message_is_kept_as_it_is(stack) -> None:
    rev, proc = stack
    status, _, _ = await post(f"{rev.url}/processor/charges", "card_number=tok_123", FORM, bearer())
    assert status == 201 and proc.seen[0].body == b"card_number=tok_123"
    assert rev.audit_lines() == []  # nothing revealed, nothing to audit


async def test_an_audit_line_per_value_before_sending_one_after_no_plaintext(stack, rsa_key) -> None:
    rev, proc = stack
    body = json.dumps({"card": {"number": proxy_encrypt(rsa_key, CARD)}})
    await post(f"{rev.url}/processor/charges", body, "application/json", bearer())
    assert len(proc.seen) == 1
    lines = rev.audit_lines()
    phases = [(line["phase"], line["upstream_status"]) for line in lines]
    assert phases == [("sending", None), ("answered", 201)]
    for line in lines:
        assert (line["caller"], line["route"], line["field"]) == ("billing", "processor", "/card/number")
        assert (line["provider_id"], line["key_name"]) == ("FLEDemo", "DemoPublicKey")
    assert CARD.decode() not in rev.audit.read_text() and "4111" not in rev.audit.read_text()


async def refused(rev: RevealUnderTest, proc: Processor, path: str, body: str, status: int, reason: str,
                  headers: dict[str, str] | None = None, method: str = "POST",
                  content_type: str = FORM) -> None:  # fmt: skip
    got, _, answer = await post(f"{rev.url}{path}", body, content_type, headers, method)
    assert (got, json.loads(answer)["error"]) == (status, reason)
    assert proc.seen == []  # nothing reached the processor
    assert CARD not in answer


async def test_no_credentials_is_407_and_nothing_forwarded(stack, rsa_key) -> None:
    rev, proc = stack
    body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}"
    await refused(rev, proc, "/processor/charges", body, 407, "ProxyAuthenticationRequired")
    await refused(rev, proc, "/processor/charges", body, 407, "ProxyAuthenticationRequired",
                  {"Proxy-Authorization": "Basic Zm9vOmJhcg=="})  # fmt: skip


async def test_a_wrong_token_or_a_caller_not_on_the_route_is_403(stack, rsa_key) -> None:
    rev, proc = stack
    body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}"
    await refused(rev, proc, "/processor/charges", body, 403, "CallerUnknown", bearer("not-the-token"))
    await refused(rev, proc, "/processor/charges", body, 403, "CallerNotAllowed", bearer(OTHER_TOKEN))


@pytest.mark.parametrize(
    "path",
    [
        "/processor/../other/x",
        "/processor/a/../../other/x",
        "/processor/%2e%2e/other/x",
        "/processor/a%2Fb",
        "/processor/a%5cb",
        "/processor/a\\b",
        "/processor/user@evil.example/x",
        "/processor//charges",
        "/processor/%252e%252e/x",
        "/processor/..;/other/x",
        "/processor/charges;jsessionid=1",
        "/processor/..%3b/other/x",
        "/processor/%c0%ae%c0%ae/other/x",
        "/processor/%ef%bc%8e%ef%bc%8e/other/x",
        "/processor/%u002e%u002e/other/x",
        "/processor/.../x",
        "/processor/a%00b",
        "/processor/a%0d%0aX-Injected:%201",
    ],
)
async def test_paths_that_could_leave_the_prefix_are_refused(stack, path: str) -> None:
    rev, proc = stack
    answer = await raw_request(rev, path)  # sent as is: an HTTP client library would normalise some of them
    assert answer.startswith(b"HTTP/1.1 400") and b'"PathRefused"' in answer
    assert proc.seen == []


@pytest.mark.parametrize(
    "path",
    ["/processor/v1.2/charges", "/processor/a%20b", "/processor/caf%C3%A9", "/processor/a:b(c)!*,+=$&'"],
)
async def test_paths_that_mean_one_thing_pass_as_sent(stack, path: str) -> None:
    rev, proc = stack
    answer = await raw_request(rev, path)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert [s.path_qs for s in proc.seen] == ["/v1/" + path.removeprefix("/processor/")]


async def raw_request(rev: RevealUnderTest, target: str) -> bytes:
    """The whole answer to a POST whose request target is sent byte for byte as given."""
    host, port = rev.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
        "card_number=x".encode("utf-8", "surrogateescape")
    )
    answer = await reader.read()
    writer.close()
    return answer


async def test_an_absolute_form_request_target_is_refused(stack) -> None:
    rev, proc = stack
    answer = await raw_request(rev, f"{proc.url}/v1/charges")
    assert answer.startswith(b"HTTP/1.1 400") and b'"PathRefused"' in answer
    assert proc.seen == []


async def test_no_route_is_404_and_a_method_not_allowed_is_405(stack) -> None:
    rev, proc = stack
    await refused(rev, proc, "/elsewhere/x", "", 404, "NoSuchRoute", bearer())
    await refused(rev, proc, "/processor/charges", "", 405, "MethodNotAllowed", bearer(), method="PUT")


async def test_ciphertext_under_a_key_not_the_routes_is_403_before_any_unwrap(stack, other_rsa_key) -> None:
    rev, proc = stack
    ciphertext = proxy_encrypt(other_rsa_key, CARD, name="OldKey")  # in the keystore, not in the route
    await refused(rev, proc, "/processor/charges", f"card_number={urllib.parse.quote(ciphertext, safe='')}",
                  403, "KeyNotAllowed", bearer())  # fmt: skip
    [line] = rev.audit_lines()
    assert (line["phase"], line["reason"]) == ("refused", "KeyNotAllowed")


async def test_a_tampered_ciphertext_is_refused_and_nothing_forwarded(stack, rsa_key) -> None:
    import base64

    rev, proc = stack
    message = bytearray(base64.b64decode(proxy_encrypt(rsa_key, CARD)))
    message[-40] ^= 1  # inside the body / footer: the header still names the route's key
    body = json.dumps({"card": {"number": base64.b64encode(message).decode()}})
    await refused(rev, proc, "/processor/charges", body, 400, "decrypt_failed", bearer(),
                  content_type="application/json")  # fmt: skip


async def test_an_upstream_redirect_is_passed_back_not_followed(stack) -> None:
    rev, proc = stack
    status, headers, _ = await post(f"{rev.url}/processor/redirect", "a=1", FORM, bearer())
    assert status == 302 and headers["Location"] == "https://127.0.0.1:1/elsewhere"
    assert len(proc.seen) == 1


async def test_an_upstream_that_is_down_is_502_after_the_audit_line(tmp_path, file_keystore, rsa_key) -> None:
    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        url = proc.url
    routes = write_routes(tmp_path, url, ca_file=pki.ca)  # the port is closed now
    async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl") as rev:
        body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}"
        status, _, answer = await post(f"{rev.url}/processor/charges", body, FORM, bearer())
        assert (status, json.loads(answer)["error"]) == (502, "UpstreamUnavailable")
        phases = [(line["phase"], line.get("reason")) for line in rev.audit_lines()]
        assert phases == [("sending", None), ("failed", "UpstreamUnavailable")]


async def test_an_upstream_whose_certificate_is_not_trusted_is_502(tmp_path, file_keystore, rsa_key) -> None:
    pki = make_pki(tmp_path / "pki")
    stranger = make_pki(tmp_path / "other-ca", "another-ca")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=stranger.ca)
        async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl") as rev:
            body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}"
            status, _, _ = await post(f"{rev.url}/processor/charges", body, FORM, bearer())
            assert status == 502 and proc.seen == []  # the TLS handshake failed: no request was sent


async def test_a_body_over_the_limit_and_an_idle_client_are_refused(tmp_path, file_keystore) -> None:
    from fields.limits import Limits
    from reveal.settings import RevealSettings

    pki = make_pki(tmp_path / "pki")
    settings = RevealSettings(limits=Limits(max_body_bytes=1000), client_idle=0.5)
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl", settings) as rev:
            await refused(rev, proc, "/processor/charges", "a=" + "x" * 2000, 400,
                          "RequestLengthLimitClientError", bearer())  # fmt: skip
            host, port = rev.url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"POST /processor/charges HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Bearer {TOKEN}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1".encode()
            )
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 408") and b"ClientIdleTimeout" in answer
            assert proc.seen == []


async def test_upstream_connections_are_pooled_and_answers_come_back_byte_for_byte(stack) -> None:
    import gzip

    rev, proc = stack
    for _ in range(3):
        status, headers, answer = await post(f"{rev.url}/processor/gzip", "a=1", FORM, bearer())
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert answer == gzip.compress(b'{"token": "tok_abc"}', mtime=0)  # not inflated on the way
    assert len(proc.seen) == 3 and len({s.connection for s in proc.seen}) == 1  # one kept-alive connection


async def test_an_upstream_that_does_not_answer_in_time_is_504(tmp_path, file_keystore) -> None:
    from reveal.settings import RevealSettings

    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        settings = RevealSettings(upstream_read=0.5)
        async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl", settings) as rev:
            status, _, answer = await post(f"{rev.url}/processor/slow", "a=1", FORM, bearer())
            assert (status, json.loads(answer)["error"]) == (504, "UpstreamTimeout")


async def test_a_full_upstream_pool_is_a_bounded_wait_then_503(tmp_path, file_keystore) -> None:
    """Every connection of a route's pool in use: the next request waits --upstream-wait-timeout, not for
    ever, and is answered 503 UpstreamBusy with nothing sent."""
    from reveal.settings import RevealSettings

    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        settings = RevealSettings(pool_size=1, upstream_wait=0.3)
        async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl", settings) as rev:
            holding = asyncio.create_task(post(f"{rev.url}/processor/slow", "a=1", FORM, bearer()))
            await eventually_async(lambda: proc.seen, timeout=10)  # the one connection is in use
            started = time.monotonic()
            status, _, answer = await asyncio.wait_for(
                post(f"{rev.url}/processor/charges", "a=2", FORM, bearer()), 10
            )
            assert (status, json.loads(answer)["error"]) == (503, "UpstreamBusy")
            assert time.monotonic() - started >= 0.25  # it waited for a connection first, not refused at once
            assert [s.body for s in proc.seen] == [b"a=1"]
            assert (await holding)[0] == 201


async def test_a_caller_that_stops_reading_is_cut_after_the_write_timeout(tmp_path, file_keystore) -> None:
    """An answer the caller stops reading: one write waiting --client-write-timeout cuts the connection
    (and the upstream's with it), instead of holding both for ever."""
    from reveal.settings import RevealSettings

    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = write_routes(tmp_path, proc.url, ca_file=pki.ca)
        settings = RevealSettings(client_write=0.5)
        async with reveal_running(routes, file_keystore, tmp_path / "audit.jsonl", settings) as rev:
            host, port = rev.url.removeprefix("http://").rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            head = f"POST /processor/huge HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Bearer {TOKEN}\r\n"
            writer.write(f"{head}Content-Type: {FORM}\r\nContent-Length: 3\r\n\r\na=1".encode())
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
            writer.transport.pause_reading()  # read nothing more: the buffers fill, reveal's write waits
            await asyncio.sleep(3)  # well past the write timeout

            async def read_to_the_end() -> int:
                writer.transport.resume_reading()
                got = 0
                with contextlib.suppress(ConnectionError):  # cut: an end or a reset, either way early
                    while chunk := await reader.read(1 << 20):
                        got += len(chunk)
                return got

            got = await asyncio.wait_for(read_to_the_end(), 10)
            writer.close()
            assert got < HUGE_PIECES * 64 * 1024  # the connection was cut, not the answer finished
            counted = rev.metrics.registry.get_sample_value
            labels = {"route": "processor", "status": "aborted"}
            assert counted("fle_reveal_requests_total", labels) == 1.0  # a cut, not a 2xx answered
            assert counted("fle_reveal_requests_total", {**labels, "status": "2xx"}) is None


async def test_values_are_decrypted_on_reveal_worker_threads_not_the_event_loop(
    tmp_path, file_keystore, rsa_key
) -> None:
    import threading

    from decryptor import AuditLog, Decryptor
    from keystore import Keystore
    from reveal import load_routes
    from reveal.server import start_reveal

    threads: list[str] = []

    class Watched(Decryptor):  # the real decryptor; only notes which thread runs it
        def decrypt(self, ciphertext_b64: object):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return super().decrypt(ciphertext_b64)

    pki = make_pki(tmp_path / "pki")
    async with processor(pki) as proc:
        routes = load_routes(write_routes(tmp_path, proc.url, ca_file=pki.ca))
        audit = AuditLog(str(tmp_path / "audit.jsonl"))
        listener, url = await start_reveal(
            routes, Watched(Keystore.from_file(file_keystore)), audit, "127.0.0.1", 0
        )
        try:
            body = "&".join(
                f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}" for _ in range(3)
            )
            status, _, _ = await post(f"{url}/processor/charges", body, FORM, bearer())
        finally:
            await listener.cleanup()
            audit.close()
    assert status == 201 and proc.seen[0].body == b"&".join([b"card_number=" + CARD] * 3)
    loop_thread = threading.current_thread().name
    assert len(threads) == 3 and all(t.startswith("fle-reveal") and t != loop_thread for t in threads)


async def test_one_caller_address_is_not_capped_as_anonymous_clients_are(stack) -> None:
    """Reveal's callers are a few application servers: one of them holding more connections than the
    edge's per-address cap (256) is still served (the edge would answer 429 here)."""
    rev, _ = stack
    host, port = rev.url.removeprefix("http://").rsplit(":", 1)
    held = [await asyncio.open_connection(host, int(port)) for _ in range(270)]
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /processor/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.startswith(b"HTTP/1.1 407"), status  # no credentials: 407, not 429
    finally:
        for _, w in held:
            w.close()


async def test_the_upstream_gets_the_callers_headers_and_none_of_reveals_own(stack) -> None:
    """Reveal adds no User-Agent, Accept or Accept-Encoding (aiohttp's client did, so a caller that asked for
    no compression could get a gzip answer back): only Host and the framing are reveal's."""
    rev, proc = stack
    host, port = rev.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /processor/charges HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Bearer {TOKEN}\r\n"
        f"Content-Type: {FORM}\r\nX-Mine: 1\r\nContent-Length: 3\r\n\r\na=1".encode()
    )
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 201")
    seen = proc.seen[-1]
    assert sorted(seen.headers) == ["Content-Length", "Content-Type", "Host", "X-Mine"]
    assert seen.headers["Host"] == proc.url.removeprefix("https://").split("/")[0]


async def test_a_long_answer_is_streamed_back_and_a_cut_one_stays_cut(
    stack, rsa_key, caplog: pytest.LogCaptureFixture
) -> None:
    """An answer not all there when its head is read goes back piece by piece, byte for byte; one the
    upstream cuts short reaches the caller cut short (never completed or padded), after its audit lines,
    and is counted as aborted, with reveal's own warning, not a server error and its traceback."""

    rev, proc = stack
    body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}"
    status, headers, answer = await post(f"{rev.url}/processor/stream", body, FORM, bearer())
    assert status == 200 and headers["X-Processor"] == "fake"
    assert answer == b"".join(bytes([65 + i % 26]) * 64 * 1024 for i in range(STREAMED_PIECES))
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(f"{rev.url}/processor/cut", body, FORM, bearer())
    assert [s.path_qs for s in proc.seen] == ["/v1/stream", "/v1/cut"]
    counted = rev.metrics.registry.get_sample_value
    assert counted("fle_reveal_requests_total", {"route": "processor", "status": "aborted"}) == 1.0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("ended its answer early" in r.getMessage() for r in caplog.records)
    lines = [json.loads(line) for line in rev.audit.read_text().splitlines()]
    phases = [(line["phase"], line["upstream_status"]) for line in lines[-2:]]
    assert phases == [("sending", None), ("answered", 200)]


async def test_expect_100_continue_is_answered_before_the_body_and_another_expectation_is_417(
    stack, rsa_key
) -> None:
    """What aiohttp's router did for reveal (served by the low-level server now, app.py): a caller that
    waits for `100 Continue` (curl does for a body over 1 KB) gets it before it sends the body, and is then
    revealed as any other; an expectation reveal does not know is refused with 417, nothing forwarded. Only
    once the caller, path and method have passed: an unauthenticated caller is refused without a 100."""
    rev, proc = stack
    host, port = rev.url.removeprefix("http://").rsplit(":", 1)
    body = f"card_number={urllib.parse.quote(proxy_encrypt(rsa_key, CARD), safe='')}".encode()
    head = (f"POST /processor/charges HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Bearer {TOKEN}\r\n"
            f"Content-Type: {FORM}\r\nContent-Length: {len(body)}\r\n")  # fmt: skip
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"{head}Expect: 100-continue\r\n\r\n".encode())
    assert await asyncio.wait_for(reader.readline(), 10) == b"HTTP/1.1 100 Continue\r\n"
    assert await asyncio.wait_for(reader.readline(), 10) == b"\r\n"
    writer.write(body)
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 201")
    assert len(proc.seen) == 1 and proc.seen[0].body.startswith(b"card_number=" + CARD)

    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"{head}Expect: something-else\r\n\r\n".encode() + body)
    answer_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", answer_head).group(1))  # type: ignore[union-attr]
    answer_body = await asyncio.wait_for(reader.readexactly(length), 10)
    writer.close()
    assert answer_head.startswith(b"HTTP/1.1 417")
    assert json.loads(answer_body) == {"error": "ExpectationFailed"}  # the shared refusal vocabulary
    assert len(proc.seen) == 1

    # a caller that has not passed the gate is never invited to send its body: refused, no 100 Continue
    reader, writer = await asyncio.open_connection(host, int(port))
    anonymous = head.replace(f"Proxy-Authorization: Bearer {TOKEN}\r\n", "")
    writer.write(f"{anonymous}Expect: 100-continue\r\n\r\n".encode())
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status.startswith(b"HTTP/1.1 407"), status
    assert len(proc.seen) == 1
