"""`fle reveal --workers N`: N processes serve one port, each with the keystore it opened after the fork; one
admin listener (the parent's) counts them all; a killed worker comes back; SIGTERM lets a request in flight
finish; the workers' audit lines land whole in one file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.edge_proxy.test_proxy_workers import alive, children, get, scrape, total
from tests.fixtures_decryptor import KeySpec, KeystoreFactory, proxy_encrypt
from tests.fixtures_process import FleProcess, eventually, eventually_async, fle
from tests.helpers import serving, write_file_keystore
from tests.reveal_support import bearer, write_routes

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Upstream:
    """A plain-http upstream on loopback: records every body; /v1/hold waits until `release` is set."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        async def record(request: web.Request) -> web.Response:
            self.bodies.append(await request.read())
            if request.path == "/v1/hold":
                self.holding.set()
                await asyncio.wait_for(self.release.wait(), 20)
            return web.Response(status=201, text="charged")

        app = web.Application()
        app.router.add_post("/v1/{tail:.*}", record)
        return app


@asynccontextmanager
async def upstream_serving() -> AsyncIterator[tuple[Upstream, str]]:
    upstream = Upstream()
    try:
        async with serving(upstream.app()) as url:
            yield upstream, url
    finally:
        upstream.release.set()


async def charge(
    session: aiohttp.ClientSession, url: str, key: rsa.RSAPrivateKey, i: int, path: str = "c"
) -> int:
    value = urllib.parse.quote(proxy_encrypt(key, f"4111{i:012d}".encode()), safe="")
    headers = {**FORM, **bearer()}
    async with session.post(f"{url}/processor/{path}", data=f"card_number={value}", headers=headers) as r:
        await r.read()
        return r.status


async def charges(url: str, key: rsa.RSAPrivateKey, count: int, first: int = 0) -> None:
    """`count` charges, each on a new connection (the kernel spreads connections over the workers)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for i in range(first, first + count):
            assert await charge(session, url, key, i) == 201


def audit_processes(audit: Path) -> set[str]:
    """Every audit line parsed whole (a torn or interleaved line fails here); the processes that wrote
    them: a request id's first 16 digits are random per process (reveal/audit.py)."""
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    return {line["request_id"][:16] for line in lines}


def reveal(
    routes: Path, keystore: Path, audit: Path, *args: str, env: dict[str, str] | None = None
) -> FleProcess:
    return fle(
        "reveal", "--routes", str(routes), "--listen", "127.0.0.1:0", "--keystore", str(keystore),
        "--audit-file", str(audit), *args, env=env,
    )  # fmt: skip


async def test_two_workers_serve_count_once_come_back_and_drain(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    keystore = write_file_keystore(
        tmp_path / "ks", rsa_key, "pw", provider_id="FLEDemo", name="DemoPublicKey"
    )
    audit = tmp_path / "audit.jsonl"
    async with upstream_serving() as (upstream, upstream_url):
        routes = write_routes(tmp_path, upstream_url, ca_file=None)
        process = reveal(routes, keystore, audit, "--workers", "2", "--admin", "127.0.0.1:0",
                         env={"TEST_KEY_PASSPHRASE": "pw"})  # fmt: skip
        try:
            await process.wait_for_async("with 2 workers")
            url, admin = process.url("reveal"), process.url("admin")
            workers = children(process.pid)
            assert len(workers) == 2

            await charges(url, rsa_key, 40)
            assert (
                all(b.startswith(b"card_number=4111") for b in upstream.bodies) and len(upstream.bodies) == 40
            )
            assert len(audit_processes(audit)) == 2  # both workers revealed, their lines whole in one file
            async with aiohttp.ClientSession() as session:  # a caller without a token: refused, counted
                async with session.post(f"{url}/processor/c", data="card_number=x", headers=FORM) as r:
                    assert r.status == 407
            samples = await scrape(admin)
            assert total(samples, "fle_reveal_requests_total", route="processor", status="2xx") == 40
            assert total(samples, "fle_reveal_requests_total", route="-", status="4xx") == 1
            assert total(samples, "fle_reveal_refusals_total") == 1
            assert total(samples, "fle_reveal_values_revealed_total", route="processor") == 40
            assert total(samples, "fle_reveal_decrypt_duration_seconds_count") == 40
            assert total(samples, "fle_reveal_request_duration_seconds_count") == 41
            assert total(samples, "fle_reveal_in_flight_requests") == 0

            victim = workers[0]
            os.kill(victim, signal.SIGKILL)

            def replaced() -> list[int]:
                now = children(process.pid)
                assert len(now) == 2 and victim not in now, now
                return now

            workers = eventually(replaced, timeout=15)

            async def ready() -> None:
                assert await get(f"{admin}/readyz") == (200, "ready\n")

            await eventually_async(ready, timeout=15, interval=0.1)
            await charges(url, rsa_key, 20, first=40)
            samples = await scrape(admin)  # the killed worker's counts stay, nothing counted twice
            assert total(samples, "fle_reveal_requests_total", route="processor", status="2xx") == 60
            assert total(samples, "fle_reveal_values_revealed_total") == 60

            # SIGTERM with a request in flight: no new connection is taken, the held request is answered
            async with aiohttp.ClientSession() as session:
                held = asyncio.create_task(charge(session, url, rsa_key, 99, path="hold"))
                await asyncio.wait_for(upstream.holding.wait(), 15)
                process.send_signal(signal.SIGTERM)

                async def draining() -> None:
                    assert (await get(f"{admin}/readyz"))[0] == 503

                await eventually_async(draining, timeout=10, interval=0.05)
                upstream.release.set()
                assert await asyncio.wait_for(held, 15) == 201
            assert await process.wait_async(timeout=20) == 0
            assert not any(alive(pid) for pid in workers)
            assert len(audit.read_text().splitlines()) == 2 * 61  # sending and answered per value
            assert "4111" not in process.output()
        finally:
            process.kill()


@pytest.mark.parametrize("make_keystore", ["pkcs11_keystore_factory"], indirect=True)
async def test_workers_open_their_own_softhsm_sessions_after_the_fork(
    make_keystore: KeystoreFactory, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    keystore = make_keystore([KeySpec(rsa_key)])
    audit = tmp_path / "audit.jsonl"
    async with upstream_serving() as (upstream, upstream_url):
        routes = write_routes(tmp_path, upstream_url, ca_file=None)
        process = reveal(routes, keystore, audit, "--workers", "2")
        try:
            await process.wait_for_async("with 2 workers")
            url = process.url("reveal")
            await charges(url, rsa_key, 24)
            assert len(upstream.bodies) == 24 and all(
                b.startswith(b"card_number=4111") for b in upstream.bodies
            )
            assert len(audit_processes(audit)) == 2
            workers = children(process.pid)

            def softhsm_loaded(pid: int) -> bool:
                return "libsofthsm2" in Path(f"/proc/{pid}/maps").read_text()

            # the token is used in both workers; the parent never loaded the library (nothing to inherit)
            assert all(softhsm_loaded(pid) for pid in workers)
            assert not softhsm_loaded(process.pid)
            process.send_signal(signal.SIGTERM)
            assert await process.wait_async(timeout=20) == 0
        finally:
            process.kill()


def test_workers_below_one_is_a_usage_error(tmp_path: Path) -> None:
    routes = write_routes(tmp_path, "http://127.0.0.1:1", ca_file=None)
    process = fle(
        "reveal", "--routes", str(routes), "--keystore", str(tmp_path / "none.toml"), "--workers", "0"
    )
    output = process.finish(timeout=20)
    assert process.returncode == 2 and "--workers must be at least 1" in output


async def test_one_process_has_the_same_admin_listener_and_series(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    """`--workers 1` (no fork, its own registry) with `--admin`: the series the workers' parent adds up."""
    keystore = write_file_keystore(
        tmp_path / "ks", rsa_key, "pw", provider_id="FLEDemo", name="DemoPublicKey"
    )
    async with upstream_serving() as (upstream, upstream_url):
        routes = write_routes(tmp_path, upstream_url, ca_file=None)
        process = reveal(routes, keystore, tmp_path / "audit.jsonl", "--admin", "127.0.0.1:0",
                         env={"TEST_KEY_PASSPHRASE": "pw"})  # fmt: skip
        try:
            await process.wait_for_async("reveal listening on")
            url, admin = process.url("reveal"), process.url("admin")
            assert children(process.pid) == []
            await charges(url, rsa_key, 3)
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{url}/nowhere/c", data="x=1", headers={**FORM, **bearer()}) as r:
                    assert r.status == 404
            samples = await scrape(admin)
            assert total(samples, "fle_reveal_requests_total", route="processor", status="2xx") == 3
            assert total(samples, "fle_reveal_refusals_total", reason="NoSuchRoute") == 1
            assert total(samples, "fle_reveal_values_revealed_total", route="processor") == 3
            assert total(samples, "fle_reveal_decrypt_duration_seconds_count") == 3
            assert await get(f"{admin}/readyz") == (200, "ready\n")
            process.send_signal(signal.SIGHUP)  # logged and ignored: reveal reads its routes at start
            await process.wait_for_async("SIGHUP ignored")
            await charges(url, rsa_key, 1)
            assert len(upstream.bodies) == 4
            process.send_signal(signal.SIGTERM)
            assert await process.wait_async(timeout=30) == 0
        finally:
            process.kill()
