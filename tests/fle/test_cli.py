"""The `fle` command as a user runs it: real processes, real ports, clean stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures_process import ROOT, fle, free_port
from tests.helpers import make_config_dir


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
        lines = process.wait_for("Press Ctrl-C to stop.")
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
        assert "stopped." in process.output()
    finally:
        process.stop()
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
    output = process.finish(timeout=30)
    assert process.returncode == 2
    assert f"{tmp_path / 'profile.json'}: $: not a CloudFront" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "args", [["origin", "--store", "mysql://x"], ["proxy", "--config", "/nonexistent", "--origin", "x"]]
)
def test_usage_errors(args: list[str]) -> None:
    process = fle(*args)
    output = process.finish(timeout=30)
    assert process.returncode == 2 and "Traceback" not in output


def test_fle_reveal_flag_defaults_are_reveal_settings_defaults() -> None:
    """`fle reveal`'s parser does not import reveal (fle starts light, test_startup.py), so its timeout
    defaults are written there again: they must stay RevealSettings' own."""
    from fle import cli
    from reveal.settings import RevealSettings

    args = cli.build_parser().parse_args(["reveal", "--routes", "routes.toml"])
    defaults = RevealSettings()
    assert (
        args.client_idle_timeout,
        args.upstream_connect_timeout,
        args.upstream_read_timeout,
        args.upstream_wait_timeout,
        args.client_write_timeout,
    ) == (
        defaults.client_idle,
        defaults.upstream_connect,
        defaults.upstream_read,
        defaults.upstream_wait,
        defaults.client_write,
    )
