"""`fle proxy --workers N`: N processes really serve one port, a dead worker comes back, SIGTERM stops all;
one admin listener (the parent's) answers health, readiness and metrics for all of them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures_process import eventually, eventually_async, fle
from tests.helpers import make_config_dir, serving


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def connections_to(pid: int, port: int) -> int:
    """TCP connections that process `pid` holds to 127.0.0.1:`port`, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if int(cols[2].split(":")[1], 16) == port and cols[9] in inodes:
            count += 1
    return count


def owner_of(local_port: int, pids: list[int]) -> int:
    """Which of `pids` holds the TCP connection from 127.0.0.1:`local_port`, read from /proc."""
    for pid in pids:
        inodes = {os.readlink(fd)[8:-1] for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.is_symlink()}
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == local_port and cols[9] in inodes:
                return pid
    raise AssertionError(f"no worker holds the connection from port {local_port}")


def metric_files_dir(pid: int) -> Path:
    """The shared metrics directory a worker has mapped (serving/shared_metrics.py), read from /proc."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1]
        if path.endswith(".db") and "/fle-metrics-" in path:
            return Path(path).parent
    raise AssertionError(f"worker {pid} maps no metrics file")


async def scrape(admin: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One GET of the admin /metrics: every sample, keyed by name and sorted labels."""
    async with aiohttp.ClientSession() as session, session.get(f"{admin}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of `name` over every label set that has `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


async def post(url: str, form: dict[str, str]) -> str:
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        return await response.text()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def post_forms(url: str, count: int) -> None:
    """`count` form posts, each on a fresh connection (the kernel spreads connections over the workers)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(count):
            form = {"name": "Jane", "phone": f"404-555-{i:04d}"}
            async with session.post(f"{url}/submit", data=form) as response:
                body = await response.text()
                assert response.status == 200
                assert f"404-555-{i:04d}" not in body and "phone=AYABe" in body


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_workers_share_the_port_restart_and_stop_on_sigterm(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    """Also: one admin scrape counts both workers, and a killed worker's counts survive its restart."""
    held: list[int] = []  # proxy-side ports of requests the origin is holding
    release = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def hold(request: web.Request) -> web.Response:
        held.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        await asyncio.wait_for(release.wait(), 30)
        return web.Response(text="late")

    origin_app = web.Application()
    origin_app.router.add_post("/submit", echo)
    origin_app.router.add_post("/hold", hold)
    async with serving(origin_app) as origin_url:
        origin_port = int(origin_url.rsplit(":", 1)[1])
        config = make_config_dir(tmp_path / "config", rsa_key)
        process = fle(
            "proxy", "--config", str(config), "--origin", origin_url, "--listen", "127.0.0.1:0",
            "--workers", "2", "--admin", "127.0.0.1:0", "--access-log", "off",
        )  # fmt: skip
        try:
            process.wait_for("with 2 workers")
            url, admin = process.url("proxy"), process.url("admin")
            workers = children(process.pid)
            assert len(workers) == 2
            shared_dir = metric_files_dir(workers[0])
            assert shared_dir.stat().st_mode & 0o777 == 0o700

            await post_forms(url, 40)
            # each worker keeps its pooled upstream connections open: both forwarded requests
            assert all(connections_to(pid, origin_port) >= 1 for pid in workers), workers
            before = await scrape(admin)
            assert total(before, "fle_proxy_requests_total", action="encrypt", status="200") == 40

            # kill the worker that has a request in flight: its in-flight gauge must not stay counted
            holding = asyncio.create_task(post(f"{url}/hold", {"phone": "404-555-0150"}))
            await eventually_async(lambda: held, timeout=15)
            assert total(await scrape(admin), "fle_proxy_in_flight_requests") == 1
            victim = owner_of(held[0], workers)
            survivor = next(pid for pid in workers if pid != victim)
            os.kill(victim, signal.SIGKILL)
            with pytest.raises(aiohttp.ClientError):
                await holding

            def replaced_in_full() -> list[int]:
                now = children(process.pid)
                assert len(now) == 2 and victim not in now and survivor in now, now
                return now

            replaced = eventually(replaced_in_full, timeout=15)

            async def ready() -> None:
                assert await get(f"{admin}/readyz") == (200, "ready\n")

            await eventually_async(ready, timeout=15, interval=0.1)  # once the replacement listens

            # the killed worker's counts stay counted, the replacement's are added, nothing twice
            await post_forms(url, 20)
            after = await scrape(admin)
            assert total(after, "fle_proxy_requests_total", action="encrypt", status="200") == 60
            assert total(after, "fle_proxy_fields_encrypted_total") == 60
            assert total(after, "fle_proxy_request_duration_seconds_count", action="encrypt") == 60
            assert total(after, "fle_proxy_in_flight_requests") == 0

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert not any(alive(pid) for pid in replaced)
            assert not shared_dir.exists()  # the run's metric files go with the parent
        finally:
            release.set()
            process.kill()


def test_workers_below_one_is_a_usage_error(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    config = make_config_dir(tmp_path / "config", rsa_key)
    process = fle("proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--workers", "0")
    output = process.finish(timeout=20)
    assert process.returncode == 2
    assert "--workers must be at least 1" in output


async def test_one_scrape_counts_the_requests_of_every_worker(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    """3 workers, M requests spread over them, then ONE scrape of the admin address counts exactly M."""
    peers: set[int] = set()  # the proxy-side ports of the connections the origin saw

    async def echo(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        return web.Response(body=await request.read())

    origin_app = web.Application()
    origin_app.router.add_post("/submit", echo)
    async with serving(origin_app) as origin_url:
        origin_port = int(origin_url.rsplit(":", 1)[1])
        config = make_config_dir(tmp_path / "config", rsa_key)
        process = fle(
            "proxy", "--config", str(config), "--origin", origin_url, "--listen", "127.0.0.1:0",
            "--workers", "3", "--admin", "127.0.0.1:0", "--access-log", "off",
        )  # fmt: skip
        try:
            lines = process.wait_for("with 3 workers")
            url = process.url("proxy")
            admins = re.findall(r"admin listening on (http://\S+)", "".join(lines))
            assert len(admins) == 1, admins  # the parent's, none per worker
            admin = admins[0]
            workers = children(process.pid)
            assert len(workers) == 3

            sent = 90
            await post_forms(url, sent)
            # every worker forwarded some: each holds pooled connections to the origin
            held = {pid: connections_to(pid, origin_port) for pid in workers}
            assert all(count >= 1 for count in held.values()), held
            assert len(peers) >= 3

            samples = await scrape(admin)
            assert total(samples, "fle_proxy_requests_total") == sent
            encrypted = {"method": "POST", "action": "encrypt", "status": "200"}
            assert total(samples, "fle_proxy_requests_total", **encrypted) == sent
            assert total(samples, "fle_proxy_fields_encrypted_total") == sent  # one phone field each
            assert total(samples, "fle_proxy_request_duration_seconds_count", action="encrypt") == sent
            buckets = "fle_proxy_request_duration_seconds_bucket"
            assert total(samples, buckets, action="encrypt", le="+Inf") == sent
            assert total(samples, "fle_proxy_encrypt_duration_seconds_count") == sent
            assert total(samples, "fle_proxy_in_flight_requests") == 0
            assert ("fle_proxy_in_flight_requests", ()) in samples  # summed: no per-worker `pid` label
            assert total(samples, "fle_proxy_config_loaded_timestamp_seconds") > 0

            assert await get(f"{admin}/healthz") == (200, "ok\n")
            assert await get(f"{admin}/readyz") == (200, "ready\n")
            assert (await get(f"{admin}/nothing"))[0] == 404

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()


async def test_metrics_have_the_same_series_with_one_worker_and_with_two(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    """`--workers 1` (one process, its own registry) and `--workers 2` (shared files): same series."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    origin_app = web.Application()
    origin_app.router.add_post("/submit", echo)
    shapes = []
    async with serving(origin_app) as origin_url:
        config = make_config_dir(tmp_path / "config", rsa_key)
        for count in ("1", "2"):
            process = fle(
                "proxy", "--config", str(config), "--origin", origin_url, "--listen", "127.0.0.1:0",
                "--workers", count, "--admin", "127.0.0.1:0", "--access-log", "off",
            )  # fmt: skip
            try:
                process.wait_for("proxy listening on")
                url, admin = process.url("proxy"), process.url("admin")
                await post_forms(url, 6)
                samples = await scrape(admin)
                assert total(samples, "fle_proxy_requests_total") == 6
                # the same names and label names; `_created` samples exist with one process only
                shape = {(name, tuple(k for k, _ in labels)) for name, labels in samples}
                shapes.append({(name, keys) for name, keys in shape if not name.endswith("_created")})
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0
            finally:
                process.kill()
    assert shapes[0] == shapes[1]


async def test_one_admin_listener_for_all_workers_and_sighup_reaches_all(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    config = make_config_dir(tmp_path / "config", rsa_key)
    process = fle(
        "proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
        "--workers", "2", "--admin", "127.0.0.1:0", "--access-log", "off",
    )  # fmt: skip
    try:
        lines = process.wait_for("with 2 workers")
        admins = re.findall(r"admin listening on (http://\S+)", "".join(lines))
        assert len(admins) == 1
        admin = admins[0]
        assert await get(f"{admin}/healthz") == (200, "ok\n")
        assert await get(f"{admin}/readyz") == (200, "ready\n")
        os.kill(process.pid, signal.SIGHUP)
        process.wait_for("config reloaded")
        process.wait_for("config reloaded")  # once per worker
        samples = await scrape(admin)
        assert total(samples, "fle_proxy_config_reloads_total", result="ok") == 2  # one per worker, added up
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_a_busy_admin_address_is_one_line(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    config = make_config_dir(tmp_path / "config", rsa_key)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = fle(
            "proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
            "--workers", "2", "--admin", f"127.0.0.1:{port}",
        )  # fmt: skip
        output = process.finish(timeout=20)
    assert process.returncode != 0
    assert f"--admin 127.0.0.1:{port}: cannot listen there" in output
    assert "Traceback" not in output


def test_workers_stop_when_the_parent_is_killed_outright(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL (or the OOM killer) gives the parent no chance to stop its workers: they must not live on,
    orphaned, serving the port with the config they had (the kernel's parent-death signal stops them)."""
    config = make_config_dir(tmp_path / "config", rsa_key)
    process = fle(
        "proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
        "--workers", "2", "--admin", "off", "--access-log", "off",
    )  # fmt: skip
    workers: list[int] = []
    try:
        process.wait_for("with 2 workers")
        workers = children(process.pid)
        assert len(workers) == 2
        process.kill()  # SIGKILL: no handler runs in the parent
        eventually(lambda: not any(alive(pid) for pid in workers), timeout=15)
    finally:
        process.kill()
        for pid in workers:  # what the product failed to stop must not outlive the test either
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
