"""Malformed requests carrying canaries, at DEBUG: nothing the proxy writes may hold a canary.

`fle proxy --workers 1` runs as a process with `--log-level DEBUG` and PYTHONASYNCIODEBUG=1, its access
log in a file. Each request below is malformed in one place and carries its own canary exactly there:
request line, header name and value, folded header, chunk size, chunk extension, chunk data, trailer,
the body after `Connection: close` on HTTP/1.0, pipelined garbage, a body that breaks off, a bad chunk
that arrives after the handler has started (both on the encrypt path and on the streamed one), a form
our own grammar refuses. aiohttp's parser quotes the offending bytes in its exception, which it logs at
ERROR (logsafe/scrub.py scrubs them). Everything the proxy wrote (stdout, stderr, access log) is
searched for every canary raw, percent-encoded, base64 and hex.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fixtures_process import fle
from tests.fixtures_proxy import phone_config_dir
from tests.helpers import serving
from tests.security.test_logs_debug import spellings

FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"
TEXT = b"Content-Type: text/plain\r\n"

# one canary per position; digits and dashes are valid in paths, header values and (as garbage) chunk sizes
CANARIES = {
    name: f"404-555-{index:04d}"
    for index, name in enumerate(
        (
            "request_target",
            "method",
            "version",
            "header_name",
            "header_value",
            "folded_header",
            "chunk_size",
            "chunk_extension",
            "chunk_data",
            "trailer",
            "after_close_http10",
            "pipelined",
            "cl_and_te",
            "cut_short",
            "late_chunk_encrypt",
            "late_chunk_forward",
            "our_refusal",
            "long_header",
            "late_chunk_data",
        )
    )
}


def c(name: str) -> bytes:
    return CANARIES[name].encode()


def malformed() -> dict[str, list[bytes]]:
    """Each case: the pieces sent one after the other (a pause between them lets the handler start)."""
    post = b"POST /submit HTTP/1.1\r\nHost: proxy\r\n"
    chunked = b"Transfer-Encoding: chunked\r\n"
    return {
        "request_target": [b"POST /submit?phone=" + c("request_target") + b" HTTP/1.1 x\r\nHost: p\r\n\r\n"],
        "method": [b"PO\x01ST /" + c("method") + b" HTTP/1.1\r\nHost: p\r\n\r\n"],
        "version": [b"POST /submit HTTP/" + c("version") + b"\r\n\r\n"],
        "header_name": [post + b"X-(" + c("header_name") + b"): 1\r\nContent-Length: 0\r\n\r\n"],
        "header_value": [post + b"X-Phone: " + c("header_value") + b"\x01\r\nContent-Length: 0\r\n\r\n"],
        "folded_header": [post + b"X-Phone: a\r\n  " + c("folded_header") + b"\r\nContent-Length: 0\r\n\r\n"],
        "chunk_size": [post + FORM + chunked + b"\r\n" + c("chunk_size") + b"\r\nphone=1\r\n0\r\n\r\n"],
        "chunk_extension": [
            post + FORM + chunked + b"\r\n7;x=\x01" + c("chunk_extension") + b"\r\nphone=1\r\n0\r\n\r\n"
        ],
        "chunk_data": [post + FORM + chunked + b"\r\n6\r\nphone=" + c("chunk_data") + b"\r\n0\r\n\r\n"],
        "trailer": [post + FORM + chunked + b"\r\n7\r\nphone=1\r\n0\r\nX-(" + c("trailer") + b"): 1\r\n\r\n"],
        "after_close_http10": [
            b"POST /submit HTTP/1.0\r\nHost: p\r\nConnection: close\r\n"
            + FORM
            + b"\r\nphone="
            + c("after_close_http10")
        ],
        "pipelined": [
            b"GET / HTTP/1.1\r\nHost: p\r\n\r\n" + b"phone=" + c("pipelined") + b" garbage\r\n\r\n"
        ],
        "cl_and_te": [
            post
            + FORM
            + b"Content-Length: 23\r\n"
            + chunked
            + b"\r\n12\r\nphone="
            + c("cl_and_te")
            + b"\r\n0\r\n\r\n"
        ],
        "cut_short": [post + FORM + b"Content-Length: 500\r\n\r\nphone=" + c("cut_short")],
        "late_chunk_encrypt": [
            post + FORM + chunked + b"\r\n",
            b"Z" + c("late_chunk_encrypt") + b"\r\nx\r\n",
        ],
        "late_chunk_forward": [
            post + TEXT + chunked + b"\r\n",
            b"Z" + c("late_chunk_forward") + b"\r\nx\r\n",
        ],
        "late_chunk_data": [
            post + FORM + chunked + b"\r\n",
            b"4\r\nphone=" + c("late_chunk_data") + b"\r\n0\r\n\r\n",
        ],
        "our_refusal": [post + FORM + b"Content-Length: 21\r\n\r\nphone=" + c("our_refusal") + b"%zz"],
        "long_header": [post + b"X-Phone: " + c("long_header") * 800 + b"\r\nContent-Length: 0\r\n\r\n"],
    }


async def exchange(port: int, pieces: list[bytes]) -> bytes:
    """Send `pieces` on one connection, pausing between them; return what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(0.3)
            writer.write(piece)
            await writer.drain()
        async with asyncio.timeout(2):  # some cases leave aiohttp waiting for more body: cut them short
            return await reader.read()
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def origin_handler(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="stored")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop reports errors by its own code paths
async def test_malformed_requests_leave_no_bytes_in_any_log(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, loop: str
) -> None:
    config = phone_config_dir(tmp_path / "config", rsa_key, text_passes=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    origin_app = web.Application()
    origin_app.router.add_route("*", "/{tail:.*}", origin_handler)
    async with serving(origin_app) as origin:
        args = ["--config", str(config), "--origin", origin, "--listen", "127.0.0.1:0", "--admin", "off"]
        process = fle(
            "--log-level", "DEBUG", "proxy", "--workers", "1", *args,
            "--access-log", str(logs / "access.log"), "--loop", loop,
            env={"PYTHONASYNCIODEBUG": "1"}, log_to=(logs / "proxy.out", logs / "proxy.err"),
        )  # fmt: skip
        try:
            await process.wait_for_async(f"{loop} loop)", timeout=15)
            port = int(process.url("proxy").rsplit(":", 1)[1])
            answers = {name: await exchange(port, pieces) for name, pieces in malformed().items()}
            # a quiet period, not a wait for a condition: the scan below looks for bytes that must NOT be
            # there, so the proxy gets its moment to log what the last connection did
            await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(process.stop, signal.SIGTERM, 30)

    written = {path.name: path.read_bytes() for path in logs.iterdir()}
    stderr = written["proxy.err"]
    assert b" DEBUG " in stderr  # really at DEBUG
    assert stderr.count(b"Error handling request") >= 8  # aiohttp did log the parser's rejections
    assert b"BadHttpMessage" in stderr  # ... and the exception types are kept
    assert (
        answers["our_refusal"].startswith(b"HTTP/1.1 400")
        and b"MalformedInputClientError" in answers["our_refusal"]
    )
    assert not any(
        CANARIES["our_refusal"].encode() in a for a in [answers["our_refusal"]]
    )  # ours never quote
    assert answers["chunk_size"].split(b"\r\n")[0].endswith(b" 400 Bad Request")  # aiohttp answered
    leaks = [
        f"{name} canary {spelling!r} in {file}"
        for file, data in written.items()
        for name, canary in CANARIES.items()
        for spelling in spellings(canary)
        if spelling.encode() in data
    ]
    assert not leaks, leaks
