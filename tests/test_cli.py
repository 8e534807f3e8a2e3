"""The `fle` command as a user runs it: real processes, real ports, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import make_config_dir

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fle(*args: str, **kwargs) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "fle", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=kwargs.pop("cwd", ROOT),
    )


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 20) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    process.kill()
    raise AssertionError(f"{text!r} not seen; output:\n{''.join(lines)}")


async def test_demo_runs_encrypts_and_stops_cleanly(tmp_path: Path) -> None:
    proxy_port, origin_port = free_port(), free_port()
    process = fle(
        "demo",
        "--state-dir",
        str(tmp_path / "state"),
        "--proxy-port",
        str(proxy_port),
        "--origin-port",
        str(origin_port),
        env={"FLE_KEY_PASSPHRASE": "demo pass"},
    )
    try:
        lines = wait_for_line(process, "Press Ctrl-C to stop.")
        output = "".join(lines)
        assert f"http://127.0.0.1:{proxy_port}/" in output
        assert "fle decrypt --recent 5" in output
        async with aiohttp.ClientSession() as session:
            form = {"name": "Jane", "email": "j@example.org", "phone": "404-555-0150"}
            async with session.post(f"http://127.0.0.1:{proxy_port}/submit", data=form) as response:
                assert response.status == 200
                assert "404-555-0150" not in await response.text()
        assert (tmp_path / "state" / "keys" / "demo.pem").stat().st_mode & 0o777 == 0o600
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert "stopped." in process.stdout.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
    decrypt = subprocess.run(
        [sys.executable, "-m", "fle", "decrypt", "--recent", "1", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLE_KEY_PASSPHRASE": "demo pass",
            "FLE_KEYSTORE": str(tmp_path / "state" / "keystore.toml"),
            "FLE_STORE": f"sqlite:///{tmp_path / 'state' / 'store.db'}",
        },
        timeout=60,
    )
    assert decrypt.returncode == 0, decrypt.stderr
    assert '"phone": "404-555-0150"' in decrypt.stdout


def test_proxy_with_bad_config_exits_with_a_clear_message(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    make_config_dir(tmp_path, rsa_key)
    (tmp_path / "profile.json").write_text("{}")
    process = fle("proxy", "--config", str(tmp_path), "--origin", "http://127.0.0.1:1")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"{tmp_path / 'profile.json'}: $: not a CloudFront" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "args", [["origin", "--store", "mysql://x"], ["proxy", "--config", "/nonexistent", "--origin", "x"]]
)
def test_usage_errors(args: list[str]) -> None:
    process = fle(*args)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2 and "Traceback" not in output
