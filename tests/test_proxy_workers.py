"""`fle proxy --workers N`: N processes really serve one port, a dead worker comes back, SIGTERM stops all."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.helpers import make_config_dir, serving
from tests.test_cli import fle, wait_for_line


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


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_workers_share_the_port_restart_and_stop_on_sigterm(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    origin_app = web.Application()
    origin_app.router.add_post("/submit", echo)
    async with serving(origin_app) as origin_url:
        origin_port = int(origin_url.rsplit(":", 1)[1])
        config = make_config_dir(tmp_path / "config", rsa_key)
        process = fle(
            "proxy", "--config", str(config), "--origin", origin_url,
            "--listen", "127.0.0.1:0", "--workers", "2",
        )  # fmt: skip
        try:
            lines = wait_for_line(process, "with 2 workers")
            url = re.search(r"listening on (http://\S+)", lines[-1]).group(1)  # type: ignore[union-attr]
            workers = children(process.pid)
            assert len(workers) == 2

            # fresh connections each time: the kernel spreads them over both workers' sockets
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                for _ in range(40):
                    form = {"name": "Jane", "phone": "404-555-0150"}
                    async with session.post(f"{url}/submit", data=form) as response:
                        body = await response.text()
                        assert response.status == 200
                        assert "404-555-0150" not in body and "phone=AYABe" in body
            # each worker keeps its pooled upstream connections open: both forwarded requests
            assert all(connections_to(pid, origin_port) >= 1 for pid in workers), workers

            os.kill(workers[0], signal.SIGKILL)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (
                len(children(process.pid)) < 2 or workers[0] in children(process.pid)
            ):
                time.sleep(0.1)
            replaced = children(process.pid)
            assert len(replaced) == 2 and workers[0] not in replaced and workers[1] in replaced

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert not any(alive(pid) for pid in replaced)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_workers_below_one_is_a_usage_error(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    config = make_config_dir(tmp_path / "config", rsa_key)
    process = fle("proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--workers", "0")
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "--workers must be at least 1" in output


async def test_each_worker_has_its_admin_listener_and_sighup_reaches_all(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    config = make_config_dir(tmp_path / "config", rsa_key)
    process = fle(
        "proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
        "--workers", "2", "--admin", "127.0.0.1:0", "--access-log", "off",
    )  # fmt: skip
    try:
        lines = wait_for_line(process, "with 2 workers")
        admins = re.findall(r"admin listening on (http://\S+)", "".join(lines))
        assert len(set(admins)) == 2  # port 0: each worker's admin listener picked its own port
        async with aiohttp.ClientSession() as session:
            for url in admins:
                async with session.get(f"{url}/healthz") as response:
                    assert response.status == 200
        os.kill(process.pid, signal.SIGHUP)
        wait_for_line(process, "config reloaded")
        wait_for_line(process, "config reloaded")  # once per worker
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
