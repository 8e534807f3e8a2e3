"""Operating the proxy: forwarding rules, origin failures, TLS, admin listener, metrics, access logs,
SIGHUP reload and SIGTERM drain (the last two with `fle proxy` as a real process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Timeouts, start_site, tls_context
from tests.edge_proxy.test_proxy_cloudfront import post
from tests.fixtures_process import eventually_async, fle, fle_proxy
from tests.fixtures_proxy import (
    FORM,
    Canary,
    cf_config,
    cf_profile,
    cf_public_key,
    phone_config_dir,
    proxy_stack,
    write_config_dir,
)


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return phone_config_dir(tmp_path / "cfg", rsa_key, text_passes=True)


async def test_forwarding_headers_hop_by_hop_and_pooled_keep_alive(canary: Canary, config_dir: Path) -> None:
    async with proxy_stack(canary, config_dir) as stack:
        headers = {
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic eA==",
            "X-Forwarded-For": "203.0.113.9",
            "X-Kept": "yes",
        }
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.get(f"{stack.url}/a?b=c", headers=headers) as response:
                    assert response.status == 200 and response.headers["X-Origin"] == "canary"
    seen = canary.last.headers
    assert canary.last.path == "/a?b=c"
    for hop in ("X-Secret-Hop", "Keep-Alive", "Proxy-Authorization"):
        assert hop not in seen
    assert seen["X-Kept"] == "yes" and seen["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http" and seen["X-Forwarded-Host"].startswith("127.0.0.1:")
    assert len({r.peer_port for r in canary.received}) == 1  # one pooled connection carried all three


async def test_expect_100_continue_is_answered_by_the_proxy(canary: Canary, config_dir: Path) -> None:
    canary.protect("404-555-0150")
    async with proxy_stack(canary, config_dir) as stack, aiohttp.ClientSession() as session:
        async with session.post(
            f"{stack.url}/x", data="phone=404-555-0150", headers={"Content-Type": FORM}, expect100=True
        ) as response:
            assert response.status == 200
    assert "Expect" not in canary.last.headers and canary.last.body.startswith(b"phone=AYAB")


async def _raw(url: str, *parts: bytes, pause: float = 0.0) -> bytes:
    """Send `parts` on one raw connection, `pause` seconds apart; the whole answer (Connection: close)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause)
        return await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()


async def test_an_unknown_expectation_is_417_and_nothing_is_forwarded(
    canary: Canary, config_dir: Path
) -> None:
    head = b"POST /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    async with proxy_stack(canary, config_dir) as stack:
        answer = await _raw(stack.url, head + b"Expect: 200-ok\r\nContent-Length: 2\r\n\r\nhi")
        text = stack.runtime.metrics.exposition().decode()
    assert answer.startswith(b"HTTP/1.1 417") and b"Unknown Expect: 200-ok" in answer
    assert canary.received == []
    assert 'fle_proxy_refusals_total{reason="ExpectationFailed"} 1.0' in text  # counted as a refusal
    assert 'fle_proxy_requests_total{action="refuse",method="POST",status="417"} 1.0' in text


async def test_a_forwarded_body_arriving_in_pieces_reaches_the_origin_whole(
    canary: Canary, config_dir: Path
) -> None:
    """What has arrived is passed on at once and the rest streamed after it (app._forwarded); a body that
    is all there goes in one piece: both reach the origin byte for byte, with the client's length."""
    head = b"POST /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    body = b"first half|" + b"second half" * 50
    request = head + b"Content-Length: %d\r\n\r\n" % len(body)
    async with proxy_stack(canary, config_dir) as stack:
        answer = await _raw(stack.url, request + body[:11], body[11:], pause=0.2)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert canary.last.body == body and canary.last.headers["Content-Length"] == str(len(body))
        answer = await _raw(stack.url, request + body)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert canary.last.body == body and canary.last.headers["Content-Length"] == str(len(body))
    assert len(canary.received) == 2


async def test_origin_down_is_502_and_slow_origin_is_504(canary: Canary, config_dir: Path) -> None:
    runner, dead = await start_site(web.Application(), "127.0.0.1", 0)
    await runner.cleanup()  # nothing listens there any more
    async with proxy_stack(canary, config_dir, origin=dead) as stack:
        status, body = await post(f"{stack.url}/x", b"hi", "text/plain")
        assert (status, body) == (502, b"origin unreachable\n")
    async with proxy_stack(canary, config_dir, timeouts=Timeouts(origin_read=0.3)) as stack:
        status, body = await post(f"{stack.url}/slow/2", b"hi", "text/plain")
        assert (status, body) == (504, b"origin timed out\n")
        async with aiohttp.ClientSession() as session, session.get(f"{stack.admin}/metrics") as response:
            text = await response.text()
        assert 'fle_proxy_origin_errors_total{kind="timeout"} 1.0' in text


async def test_origin_that_never_accepts_is_a_connect_timeout_504(canary: Canary, config_dir: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # a backlog that fills at once: further handshakes are never completed
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        timeouts = Timeouts(origin_connect=0.5)
        async with proxy_stack(
            canary, config_dir, origin=f"http://127.0.0.1:{port}", timeouts=timeouts
        ) as stack:
            started = asyncio.get_running_loop().time()
            status, body = await post(f"{stack.url}/x", b"hi", "text/plain")
            assert (status, body) == (504, b"origin timed out\n")
            assert asyncio.get_running_loop().time() - started < 5
    finally:
        for sock in (*fillers, listener):
            sock.close()


@pytest.mark.both_loops
async def test_tls_termination(canary: Canary, config_dir: Path, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    client_tls = ssl.create_default_context(cafile=str(cert))
    canary.protect("404-555-0150")
    async with proxy_stack(canary, config_dir, ssl_context=tls_context(cert, key)) as stack:
        assert stack.url.startswith("https://")
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{stack.url}/x", data="phone=404-555-0150", headers={"Content-Type": FORM}, ssl=client_tls
            ) as response:
                assert response.status == 200
            with pytest.raises(aiohttp.ClientError):  # plain HTTP is not served on the TLS port
                async with session.get(stack.url.replace("https", "http") + "/x") as response:
                    await response.read()
    assert canary.last.headers["X-Forwarded-Proto"] == "https" and canary.last.body.startswith(b"phone=AYAB")


def test_unusable_tls_files_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("not a certificate")
    with pytest.raises(Exception, match="cannot load TLS certificate"):
        tls_context(tmp_path / "c.pem", tmp_path / "c.pem")


@pytest.mark.both_loops
async def test_admin_endpoints_and_metrics(canary: Canary, config_dir: Path) -> None:
    # a short canary would be found by chance in base64 ciphertext ("555": about 1 run in 250)
    canary.protect("404-555-0150", "555-0199")
    async with proxy_stack(canary, config_dir) as stack, aiohttp.ClientSession() as session:
        for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
            async with session.get(stack.admin + path) as response:
                assert response.status == status
        async with session.get(f"{stack.url}/metrics") as response:
            assert response.status == 200 and (await response.json())["method"] == "GET"  # origin's, not ours
        await post(f"{stack.url}/x", "phone=404-555-0150&phone=555-0199")
        await post(f"{stack.url}/x", "phone=1", "application/json")
        async with session.get(stack.admin + "/metrics") as response:
            text = await response.text()
        stack.runtime.draining = True
        async with session.get(stack.admin + "/readyz") as response:
            assert response.status == 503
    assert "fle_proxy_fields_encrypted_total 2.0" in text
    assert 'fle_proxy_refusals_total{reason="RejectedByContentTypeClientError"} 1.0' in text
    assert 'fle_proxy_requests_total{action="encrypt",method="POST",status="200"} 1.0' in text
    assert 'fle_proxy_request_duration_seconds_count{action="encrypt"} 1.0' in text
    assert "fle_proxy_encrypt_duration_seconds_bucket" in text


@pytest.mark.both_loops
async def test_messages_opened_ahead_are_counted_and_serve_the_next_values(
    canary: Canary, config_dir: Path
) -> None:
    """The first values find the pool empty and open their own (inline); the loop then opens
    --messages-ahead (32) for the key, and the next value is sealed into one of those."""
    canary.protect("404-555-0150", "555-0199", "404-555-0177")
    async with proxy_stack(canary, config_dir) as stack:

        def opened(when: str) -> float:
            return stack.sample("fle_proxy_messages_opened_total", when=when)

        await post(f"{stack.url}/x", "phone=404-555-0150&phone=555-0199")
        await eventually_async(lambda: opened("ahead") == 32, timeout=10)
        await post(f"{stack.url}/x", "phone=404-555-0177")
        assert opened("inline") == 2  # the first request's two values, before any refill
        assert stack.sample("fle_proxy_fields_encrypted_total") == 3
        assert 32 <= opened("ahead") <= 33  # the third value took one; its replacement may be made
        async with aiohttp.ClientSession() as session, session.get(stack.admin + "/metrics") as response:
            assert 'fle_proxy_messages_opened_total{when="inline"} 2.0' in await response.text()


@pytest.mark.both_loops
async def test_access_log_is_json_and_never_holds_a_value(
    canary: Canary, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "404-555-0150"
    canary.protect(secret)
    caplog.set_level(logging.DEBUG)
    async with proxy_stack(canary, config_dir) as stack:
        await post(f"{stack.url}/x?q={secret}", f"phone={secret}&name=Jane")
        await post(f"{stack.url}/x", f"phone={secret};", FORM)
        await post(f"{stack.url}/x", f"phone={secret}" + "9" * 20000, FORM)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "edge_proxy.access"]
    assert [(line["status"], line["action"]) for line in lines] == [
        (200, "encrypt"),
        (400, "refuse"),
        (400, "refuse"),
    ]
    assert lines[0]["fields_encrypted"] == 1 and lines[0]["profile"] == "P1" and lines[0]["path"] == "/x"
    assert lines[2]["reason"] == "FieldLengthLimitClientError"
    assert secret not in caplog.text


# --- `fle proxy` as a process -----------------------------------------------------------------------------


async def test_sighup_reload_validates_and_keeps_old_config_on_error(
    canary: Canary, config_dir: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    canary.protect("404-555-0150", "jane@example.org")
    args = (
        "--config",
        str(config_dir),
        "--origin",
        canary.url,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--access-log",
        "off",
    )
    process = fle_proxy(*args)
    try:
        await process.wait_for_async("proxy listening on", timeout=20)
        url, admin = process.url("proxy"), process.url("admin")
        body = "phone=404-555-0150&email=jane@example.org"
        write_config_dir(
            config_dir,
            cf_public_key("KA", "KeyA", rsa_key),
            cf_profile("P1", [("KA", "Alpha", ["phone", "email"])]),
            cf_config("C1", [(FORM, "P1")]),
        )
        process.send_signal(signal.SIGHUP)
        await process.wait_for_async("config reloaded", timeout=20)
        assert (await post(f"{url}/x", body))[0] == 200
        assert canary.last.body.count(b"=AYAB") == 2

        (config_dir / "00.json").write_text("{ not json")
        process.send_signal(signal.SIGHUP)
        (*_, line) = await process.wait_for_async("config reload failed", timeout=20)
        assert "00.json" in line and "line 1" in line
        assert (await post(f"{url}/x", body))[0] == 200  # still the reloaded config, still encrypting
        assert canary.last.body.count(b"=AYAB") == 2
        async with aiohttp.ClientSession() as session, session.get(f"{admin}/metrics") as response:
            text = await response.text()
        assert 'fle_proxy_config_reloads_total{result="ok"} 1.0' in text
        assert 'fle_proxy_config_reloads_total{result="error"} 1.0' in text
    finally:
        await asyncio.to_thread(process.stop, signal.SIGTERM, 20)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_sigterm_drains_in_flight_requests(canary: Canary, config_dir: Path, loop: str) -> None:
    args = (
        "--config",
        str(config_dir),
        "--origin",
        canary.url,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--loop",
        loop,
    )
    process = fle_proxy(*args)
    try:
        await process.wait_for_async(f"{loop} loop)", timeout=20)  # the proxy says which loop it runs
        url = process.url("proxy")
        in_flight = asyncio.create_task(post(f"{url}/slow/1.5", b"hello", "text/plain"))
        await eventually_async(lambda: canary.received, timeout=20)
        process.send_signal(signal.SIGTERM)
        await process.wait_for_async("draining", timeout=20)
        with pytest.raises(aiohttp.ClientError):  # no new connections once draining
            await post(f"{url}/x", b"late", "text/plain")
        status, answer = await in_flight
        assert status == 200 and json.loads(answer)["size"] == 5  # finished after SIGTERM
        assert await process.wait_async(20) == 0
    finally:
        await asyncio.to_thread(process.stop, signal.SIGTERM, 20)
    access = [json.loads(line) for line in process.stdout().splitlines()]
    assert [(a["path"], a["status"]) for a in access] == [("/slow/1.5", 200)]


async def test_cli_usage_errors(tmp_path: Path, config_dir: Path) -> None:
    base = ("proxy", "--config", str(config_dir), "--origin", "http://127.0.0.1:1")
    for extra, message in [
        (("--tls-cert", "c.pem"), "--tls-cert and --tls-key go together"),
        (("--max-body-bytes", "0"), "max_body_bytes must be a positive"),
        (("--client-idle-timeout", "0"), "client_idle must be greater than 0"),
        (("--messages-ahead", "-1"), "--messages-ahead must be 0 (off) or more"),
        (("--tls-cert", "nope.pem", "--tls-key", "nope.pem"), "cannot load TLS certificate"),
    ]:
        process = fle(*base, *extra, separate_stderr=True)
        await asyncio.to_thread(process.finish, 60)
        err = process.stderr()
        assert process.returncode == 2 and message in err, err
