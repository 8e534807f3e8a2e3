"""Isolation under slow clients (issue 24, finding 3; docs/reliability.md#isolation-under-slow-clients).

The attack: a thousand uploads that never finish and a thousand large answers that are never read, all
from one address. Before the fix each held an origin connection (the pool has 256), and a 10-byte POST
from anyone else waited for a free one for tens of seconds. Now

- `fle proxy` (both event loops, one worker and two): the per-address connection cap turns most of the
  attacker's connections away (429) and the ones it lets in hold no origin connection, so a request from
  another address (127.0.0.2) is answered 2xx within a second. A request from the attacker's own address
  is refused by the cap, as it must be: the cap cannot tell a benign connection from a hostile one behind
  one address, and it is what keeps that address from taking every connection the process may open.
- in-process, with the per-address cap off and a small pool: buffering alone keeps the slow clients off
  the pool, so a request from the attacker's own address is answered within a second too.

Every client is a raw socket on loopback; an unread answer's socket has a small receive buffer, and each
answer (8 MiB) is larger than what the kernel buffers for a reader that reads nothing, so before the fix
its exchange could not end. Each test takes a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from edge_proxy import Buffering, ClientLimits, ProxySettings, Runtime, Timeouts, build_app, start_site
from edge_proxy.serving.guards import GuardedServer
from profiles import load_config_dir
from tests.fixtures_process import eventually_async, fle_proxy
from tests.fixtures_proxy import FORM, Canary, cf_config, cf_profile, cf_public_key, write_config_dir

SLOW_UPLOADS = 1000
UNREAD_ANSWERS = 1000
LARGE = 128  # the canary's /stream/128: 128 x 64 KiB = 8 MiB
BOUNDARY = "slowslowslow"
SERVED_WITHIN = 1.0  # seconds, for the benign request


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """Form and multipart bodies under a profile (field `phone`); text/plain passes untouched."""
    return write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "Alpha", ["phone"])]),
        cf_config("C1", [(FORM, "P1"), ("multipart/form-data", "P1", "Multipart"), ("text/plain", None)]),
    )


@pytest.fixture(autouse=True)
def enough_descriptors() -> None:
    """Thousands of sockets (and the proxy's temporary files): the soft descriptor limit raised."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 3 * (SLOW_UPLOADS + UNREAD_ANSWERS):
        pytest.skip("this system allows too few open files for the test")


def _slow_upload(number: int) -> bytes:
    """The head and first bytes of a body that declares a megabyte and never sends the rest: half are
    multipart under the profile (rewritten as they stream), half pass through untouched."""
    if number % 2:
        start = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n\r\n'
        ).encode() + b"p" * 1000
        kind = f"multipart/form-data; boundary={BOUNDARY}"
    else:
        start, kind = b"t" * 1000, "text/plain"
    return (
        f"POST /upload/{number} HTTP/1.1\r\nHost: h\r\nContent-Type: {kind}\r\n"
        f"Content-Length: 1000000\r\n\r\n"
    ).encode() + start


async def _open(url: str, data: bytes, *, unread: bool = False, local: str = "127.0.0.1") -> socket.socket:
    """A connection that sends `data` and then neither sends nor reads; with `unread`, a small receive
    buffer so that what the proxy sends backs up at once."""
    address = URL(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if unread:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((local, 0))
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (address.host, address.port)), 10)
        await asyncio.wait_for(loop.sock_sendall(sock, data), 10)
    except (OSError, TimeoutError):
        pass  # refused or closed by a limit: it is still held open here until the end
    return sock


@contextlib.asynccontextmanager
async def attack(url: str, uploads: int, answers: int) -> AsyncIterator[list[socket.socket]]:
    """Slow uploads and unread large answers from 127.0.0.1, interleaved, open for the block's duration."""
    get = f"GET /stream/{LARGE} HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    opening = []
    for n in range(max(uploads, answers)):
        if n < uploads:
            opening.append(_open(url, _slow_upload(n)))
        if n < answers:
            opening.append(_open(url, get, unread=True))
    sockets: list[socket.socket] = []
    try:
        for batch in range(0, len(opening), 250):  # in batches within the listen backlog (1024)
            sockets += await asyncio.gather(*opening[batch : batch + 250])
        yield sockets
    finally:
        for coroutine in opening[len(sockets) :]:
            coroutine.close()
        for sock in sockets:
            sock.close()


async def benign(url: str, local: str) -> list[tuple[int, float]]:
    """A 10-byte POST, a form with a protected field, a GET: status and seconds each, from `local`."""
    connector = aiohttp.TCPConnector(local_addr=(local, 0), force_close=True)
    results = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for method, path, body, kind in [
            ("POST", "/benign", b"0123456789", "text/plain"),
            ("POST", "/benign-form", b"phone=404-555-0150", FORM),
            ("GET", "/benign-get", None, None),
        ]:
            headers = {"Content-Type": kind} if kind else {}
            started = time.monotonic()
            try:
                async with (
                    asyncio.timeout(10),
                    session.request(method, url + path, data=body, headers=headers) as response,
                ):
                    await response.read()
                    status = response.status
            except TimeoutError:
                status = 0  # no answer at all within 10 s: the freeze
            results.append((status, time.monotonic() - started))
    return results


async def _metric(admin: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{admin}/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.parametrize(
    ("loop", "workers"), [("asyncio", 1), ("uvloop", 1), ("uvloop", 2)], ids=["asyncio", "uvloop", "workers2"]
)
async def test_a_benign_request_is_served_while_one_address_holds_thousands_of_slow_clients(
    canary: Canary, config_dir: Path, loop: str, workers: int
) -> None:
    canary.protect("404-555-0150")
    # per address and worker; small, so that the few answers let in (8 MiB each, buffered on disk) cost
    # little time on this shared machine: the default (256) would let in about 128 answers per worker
    cap = 16
    args = ("--config", str(config_dir), "--origin", canary.url, "--listen", "127.0.0.1:0")
    process = fle_proxy(
        *args,
        *("--admin", "127.0.0.1:0", "--loop", loop, "--workers", str(workers), "--access-log", "off"),
        *("--max-connections", "4096", "--max-client-connections", str(cap)),
    )
    try:
        await process.wait_for_async("proxy listening", timeout=30)
        url, admin = process.url("proxy"), process.url("admin")
        async with attack(url, SLOW_UPLOADS, UNREAD_ANSWERS):
            # the clients let in are in the proxy: uploading, or being sent an answer nobody reads
            await eventually_async(_attack_in_place(admin, cap, cap // 4), timeout=30)
            results = await benign(url, "127.0.0.2")
            refused = await _metric(
                admin, 'fle_proxy_connections_refused_total{limit="max_client_connections"}'
            )
            spilled = await _metric(
                admin, 'fle_proxy_buffered_bodies_total{direction="response",where="disk"}'
            )
    finally:
        await asyncio.to_thread(process.kill)
    assert [status for status, _ in results] == [200, 200, 200], results
    assert all(seconds < SERVED_WITHIN for _, seconds in results), results
    assert refused > 0  # the cap turned most of the attacker's connections away
    assert spilled > 0  # answers went through the buffer, past memory to disk


def _attack_in_place(admin: str, in_flight: int, answers: int):  # type: ignore[no-untyped-def]
    """At least `in_flight` requests in the proxy, of which `answers` answers read whole from the origin."""

    async def check() -> bool:
        read = await _metric(admin, 'fle_proxy_buffered_bodies_total{direction="response"')
        return read >= answers and await _metric(admin, "fle_proxy_in_flight_requests") >= in_flight

    return check


@pytest.mark.both_loops
async def test_buffering_alone_keeps_slow_clients_off_the_origin_pool(
    canary: Canary, config_dir: Path
) -> None:
    """No per-address cap, a pool of 16: a benign request from the attacker's own address is served.

    32 unread answers (twice the pool) rather than 1,000: with no cap, each is buffered whole (8 MiB
    to disk), and a thousand would take 8 GiB; what bounds that is the disk budget, past which answers
    are read at the client's pace again (docs/reliability.md says what then holds)."""
    answers = 32
    canary.protect("404-555-0150")
    settings = ProxySettings(
        origin=URL(canary.url),
        config=load_config_dir(config_dir).only_config(),
        timeouts=Timeouts(origin_wait=5.0),
        pool_size=16,
        client=ClientLimits(max_connections=8192, max_client_connections=0),
        buffering=Buffering(),
    )
    runtime = Runtime(settings)
    listener, url = await start_site(
        build_app(runtime), "127.0.0.1", 0, client_limits=settings.client, keepalive_timeout=60
    )
    try:
        async with attack(url, SLOW_UPLOADS, answers):
            metrics = runtime.metrics.registry

            def in_place() -> bool:
                in_flight = metrics.get_sample_value("fle_proxy_in_flight_requests") or 0
                on_disk = metrics.get_sample_value(
                    "fle_proxy_buffered_bodies_total", {"direction": "response", "where": "disk"}
                )
                return in_flight >= SLOW_UPLOADS + answers and (on_disk or 0) >= answers

            await eventually_async(in_place, timeout=30)
            results = await benign(url, "127.0.0.1")
            spilled = metrics.get_sample_value(
                "fle_proxy_buffered_bodies_total", {"direction": "response", "where": "disk"}
            )
    finally:
        await listener.cleanup()
    assert [status for status, _ in results] == [200, 200, 200], results
    assert all(seconds < SERVED_WITHIN for _, seconds in results), results
    assert spilled and spilled >= 1


# --- each layer on its own --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def in_process(
    config_dir: Path, origin: str, **fields: object
) -> AsyncIterator[tuple[str, Runtime, GuardedServer]]:
    """The proxy in-process on a free port with `fields` of ProxySettings, its client limits applied."""
    settings = ProxySettings(
        origin=URL(origin),
        config=load_config_dir(config_dir).only_config(),
        **fields,  # type: ignore[arg-type]
    )
    runtime = Runtime(settings)
    listener, url = await start_site(
        build_app(runtime),
        "127.0.0.1",
        0,
        client_limits=settings.client,
        keepalive_timeout=60,
        refused=runtime.metrics.count_connection_refused,
    )
    assert isinstance(listener.runner.server, GuardedServer)
    try:
        yield url, runtime, listener.runner.server
    finally:
        await listener.cleanup()


async def _answer(sock: socket.socket) -> bytes:
    """What the proxy sends on `sock` until it closes it (at most 64 KiB, 10 s)."""
    loop = asyncio.get_running_loop()
    data = b""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(10):
            while piece := await loop.sock_recv(sock, 65536):
                data += piece
                if len(data) > 65536:
                    break
    return data


def _sample(runtime: Runtime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.both_loops
async def test_connections_beyond_the_per_address_cap_get_429_and_other_addresses_are_served(
    canary: Canary, config_dir: Path
) -> None:
    limits = ClientLimits(max_client_connections=2)
    async with in_process(config_dir, canary.url, client=limits) as (url, runtime, server):
        held = [await _open(url, b"GET /a HTTP/1.1\r\nHost: h\r\n") for _ in range(2)]  # heads not finished
        third = await _open(url, b"")
        assert (await _answer(third)).startswith(b"HTTP/1.1 429")
        third.close()
        assert [status for status, _ in await benign(url, "127.0.0.2")] == [200, 200, 200]
        held.pop().close()  # one of the two goes: the address may open one again
        await eventually_async(lambda: server.per_client.get("127.0.0.1") == 1)
        results = await benign(url, "127.0.0.1")  # one connection at a time: within the cap
        assert [status for status, _ in results] == [200, 200, 200]
        assert _sample(runtime, "fle_proxy_connections_refused_total", limit="max_client_connections") == 1
        for sock in held:
            sock.close()


async def test_the_wait_for_an_origin_connection_is_bounded_and_answered_503(
    canary: Canary, config_dir: Path
) -> None:
    """One pooled connection, held by a slow origin answer: the next request waits 0.5 s, then 503."""
    timeouts = Timeouts(origin_wait=0.5)
    async with in_process(config_dir, canary.url, pool_size=1, timeouts=timeouts) as (url, runtime, _):
        async with aiohttp.ClientSession() as session:
            holding = asyncio.create_task(session.get(f"{url}/slow/3"))
            await eventually_async(lambda: len(canary.received) == 1)
            started = time.monotonic()
            async with session.post(
                f"{url}/x", data=b"0123456789", headers={"Content-Type": "text/plain"}
            ) as r:
                status, answer, waited = r.status, await r.json(), time.monotonic() - started
            assert (await holding).status == 200
    assert (status, answer["error"]) == (503, "OriginBusy")
    assert 0.5 <= waited < 3
    assert _sample(runtime, "fle_proxy_refusals_total", reason="OriginBusy") == 1
    assert len(canary.received) == 1  # nothing of the refused request reached the origin


@pytest.mark.both_loops
async def test_a_client_that_reads_nothing_is_cut_after_the_write_timeout(
    canary: Canary, config_dir: Path
) -> None:
    timeouts = Timeouts(client_write=0.5)
    async with in_process(config_dir, canary.url, timeouts=timeouts) as (url, runtime, _):
        sock = await _open(url, f"GET /stream/{LARGE} HTTP/1.1\r\nHost: h\r\n\r\n".encode(), unread=True)
        try:
            await eventually_async(lambda: _sample(runtime, "fle_proxy_client_write_timeouts_total") == 1)
            assert _sample(runtime, "fle_proxy_in_flight_requests") == 0
            got = 0
            with contextlib.suppress(ConnectionError):  # what it had in its buffers, then the cut
                async with asyncio.timeout(10):
                    while piece := await asyncio.get_running_loop().sock_recv(sock, 1 << 20):
                        got += len(piece)
            assert got < LARGE * 65536  # cut, not completed
        finally:
            sock.close()
    assert _sample(runtime, "fle_proxy_buffered_bodies_total", direction="response", where="disk") == 1


async def test_request_buffer_limits_refuse_before_anything_reaches_the_origin(
    canary: Canary, config_dir: Path
) -> None:
    async def chunked(size: int):  # type: ignore[no-untyped-def]
        for _ in range(size // 1000):
            yield b"x" * 1000
            await asyncio.sleep(0)

    async def post(url: str, data: object, **headers: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/up", data=data, headers={"Content-Type": "text/plain", **headers}
            ) as response,
        ):
            return response.status, (await response.read()).decode()

    small = Buffering(memory_bytes=4096, max_request_bytes=100_000)
    async with in_process(config_dir, canary.url, buffering=small) as (url, runtime, _):
        status, answer = await post(url, chunked(200_000), **{"Content-Length": "200000"})  # declared
        assert status == 413 and "RequestBufferLimitClientError" in answer
        status, answer = await post(url, chunked(200_000))  # chunked: refused once past the limit
        assert status == 413 and "RequestBufferLimitClientError" in answer
        status, _ = await post(url, chunked(15_000))  # through the file
        assert status == 200 and canary.last.size == 15_000
        assert canary.last.headers["Content-Length"] == "15000"  # its exact length, not chunked
    assert _sample(runtime, "fle_proxy_buffered_bodies_total", direction="request", where="disk") == 1
    budget = Buffering(memory_bytes=4096, disk_bytes=20_000)
    async with in_process(config_dir, canary.url, buffering=budget) as (url, runtime, _):
        status, answer = await post(url, chunked(50_000))  # past the disk budget
        assert status == 503 and "RequestBufferFull" in answer
        status, _ = await post(url, b"x" * 3000)  # a body in memory is not held back by the budget
        assert status == 200
    assert [r.size for r in canary.received] == [15_000, 3000] and canary.aborted == 0


@pytest.mark.parametrize("limit", [1 << 20, Buffering().max_response_bytes], ids=["1MiB", "default"])
async def test_an_answer_past_the_response_buffer_limit_holds_its_origin_connection(
    canary: Canary, config_dir: Path, limit: int
) -> None:
    """Past --max-response-buffer-bytes the origin is read at the client's pace, as with buffering off:
    an unread 8 MiB answer then holds the only pooled connection and the next request meets the bounded
    wait (503 OriginBusy); within the limit it is read whole and the connection is free again."""
    fields = {"pool_size": 1, "timeouts": Timeouts(origin_wait=0.5)}
    async with in_process(
        config_dir, canary.url, buffering=Buffering(max_response_bytes=limit), **fields
    ) as (url, runtime, _):
        sock = await _open(url, f"GET /stream/{LARGE} HTTP/1.1\r\nHost: h\r\n\r\n".encode(), unread=True)
        try:
            await eventually_async(lambda: len(canary.received) == 1)
            if limit < LARGE * 65536:
                await eventually_async(lambda: _sample(runtime, "fle_proxy_in_flight_requests") == 1)
            else:  # read whole from the origin: counted once it is
                await eventually_async(
                    lambda: (
                        _sample(
                            runtime, "fle_proxy_buffered_bodies_total", direction="response", where="disk"
                        )
                        == 1
                    )
                )
            results = await benign(url, "127.0.0.2")
        finally:
            sock.close()
    expected = 503 if limit < LARGE * 65536 else 200
    assert [status for status, _ in results] == [expected] * 3, results


def test_bad_buffering_and_timeouts_are_refused() -> None:
    for bad in ({"memory_bytes": 0}, {"max_request_bytes": -1}, {"disk_bytes": True}):
        with pytest.raises(ValueError):
            Buffering(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Timeouts(origin_wait=0)
    with pytest.raises(ValueError):
        ClientLimits(max_client_connections=-1)
