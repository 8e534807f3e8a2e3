"""deploy/systemd/: the units pass `systemd-analyze verify`, and what their sandbox forbids the services
do not need.

systemd does not run as PID 1 here, so the units are not started by systemd. Two checks stand in:
`systemd-analyze verify` (syntax, every key known, ExecStart executable) with warnings counted as
failures, and the one sandbox setting a Python program can trip over at run time,
MemoryDenyWriteExecute, reproduced with the kernel's own switch for the same rule (PR_SET_MDWE): the
proxy and the origin run under it and encrypt and store a real form, and reveal, started with the command
line of its unit and its files laid out as systemd's credentials directory, decrypts one on its way to a
loopback upstream.
"""

from __future__ import annotations

import ctypes
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from store import SqliteStore
from tests.fixtures_decryptor import proxy_encrypt
from tests.fixtures_process import FleProcess, fle_env, free_port
from tests.helpers import make_config_dir, write_file_keystore
from tests.reveal_support import bearer, make_pki, processor, write_routes

ROOT = Path(__file__).parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_FLE = "/opt/fle-edge/.venv/bin/fle"  # where deploy/systemd/README.md installs it
PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1
SERVICES = ["fle-proxy.service", "fle-origin.service", "fle-reveal.service"]

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing: apt-get install systemd (scripts/install.sh --test does)",
)


@pytest.fixture
def units(tmp_path: Path) -> Iterator[Path]:
    """The units, copied with ExecStart pointing at an `fle` that exists (verify insists on it)."""
    fle = tmp_path / "bin" / "fle"
    fle.parent.mkdir()
    fle.write_text(f'#!/bin/sh\nexec {sys.executable} -m fle "$@"\n')
    fle.chmod(0o755)
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        assert INSTALLED_FLE in text, unit
        (tmp_path / unit.name).write_text(text.replace(INSTALLED_FLE, str(fle)))
    yield tmp_path


def verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_systemd_analyze
def test_units_verify_without_a_warning(units: Path) -> None:
    paths = sorted(units.glob("*.service"))
    assert {p.name for p in paths} == set(SERVICES)
    result = verify(*paths)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr


@needs_systemd_analyze
def test_units_rendered_by_fle_deploy_systemd_verify_wherever_the_venv_is(tmp_path: Path) -> None:
    """Issue 25.7: the committed units name /opt/fle-edge; `fle deploy systemd` writes them for this
    install (the fle beside this Python, this checkout's docs), and those verify here."""
    out = tmp_path / "units"
    made = subprocess.run([sys.executable, "-m", "fle", "deploy", "systemd", "--output", str(out)],
                          capture_output=True, text=True, env=fle_env(), timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    paths = sorted(out.glob("*.service"))
    assert [str(p) for p in paths] == made.stdout.split() and {p.name for p in paths} == set(SERVICES)
    fle = Path(sys.executable).parent / "fle"
    for path in paths:
        text = path.read_text()
        assert f"ExecStart={fle} --log-level" in text and INSTALLED_FLE not in text
        assert f"file:{ROOT}/docs/deploy.md" in text
    result = verify(*paths)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr
    if not Path(INSTALLED_FLE).exists():  # the committed units, as they are, fail here: the case above
        assert INSTALLED_FLE in verify(*sorted(UNITS.glob("*.service"))).stderr


def test_fle_deploy_systemd_refuses_a_program_that_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "fle").write_text("not executable")
    made = subprocess.run([sys.executable, "-m", "fle", "deploy", "systemd", "--output", str(tmp_path / "u"),
                           "--fle", str(tmp_path / "fle")], capture_output=True, text=True, env=fle_env(),
                          timeout=60)  # fmt: skip
    assert made.returncode == 2
    assert made.stderr == f"fle deploy: --fle {tmp_path / 'fle'}: not an executable file\n"
    assert not (tmp_path / "u").exists()


@needs_systemd_analyze
def test_verify_catches_a_misspelt_setting(units: Path) -> None:
    """verify only warns (exit 0) on an unknown key, which is why the test above wants no output."""
    unit = units / "fle-proxy.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    result = verify(unit)
    assert "Unknown key 'ProtectSytem'" in result.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_sandbox_exposure_is_low(units: Path, name: str) -> None:
    """systemd's own score of the sandbox (0 = locked down, 10 = none): ours must stay "OK" (< 2)."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(units / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) < 2.0, result.stdout


def unit_settings(unit: str) -> dict[str, str]:
    """The unit's uncommented `Key=value` lines; a key given twice keeps its last value."""
    text = (UNITS / unit).read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize("unit", SERVICES)
def test_units_keep_the_settings_the_docs_promise(unit: str) -> None:
    settings = unit_settings(unit)
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
        "Restart": "on-failure",
    }.items():
        assert settings.get(key) == value, (unit, key)
    if unit == "fle-proxy.service":
        assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    else:  # origin and reveal do not reload on SIGHUP (it would end them): no reload to promise
        assert "ExecReload" not in settings


def test_reveal_reads_its_files_as_credentials_only() -> None:
    """Private keys and routes reach reveal through LoadCredential= (the files stay root-only), never
    through a path the service's dynamic user would have to be able to read."""
    text = (UNITS / "fle-reveal.service").read_text()
    loaded = re.findall(r"^LoadCredential=([^:\n]+):", text, re.MULTILINE)
    assert loaded == ["routes.toml", "keystore.toml"]
    settings = unit_settings("fle-reveal.service")
    assert "FLE_KEYSTORE=%d/keystore.toml" in text and "--routes %d/routes.toml" in settings["ExecStart"]
    assert "ConfigurationDirectory" not in settings and "StateDirectory" not in settings


def _mdwe_available() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_GET_MDWE, 0, 0, 0, 0)) >= 0


def under_mdwe(*args: str, env: dict[str, str]) -> FleProcess:
    """`python -m fle ARGS` with PR_SET_MDWE set first: no memory may become writable and executable,
    inherited by every worker it forks."""
    launcher = (
        "import ctypes, os, sys\n"
        f"if ctypes.CDLL(None).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:\n"
        "    sys.exit('PR_SET_MDWE failed')\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'fle', *sys.argv[1:]])\n"
    )
    return FleProcess([sys.executable, "-c", launcher, *args], env=fle_env(env))


@pytest.mark.skipif(not _mdwe_available(), reason="this kernel has no PR_SET_MDWE (Linux 6.3 or later)")
def test_the_mdwe_switch_really_refuses_writable_executable_memory() -> None:
    """The control for the test below: under the same switch, a W+X mapping is refused."""
    probe = (
        "import ctypes, mmap, sys\n"
        "def wx():\n"
        "    try:\n"
        "        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()\n"
        "        return 'allowed'\n"
        "    except PermissionError:\n"
        "        return 'refused'\n"
        "before = wx()\n"
        f"assert ctypes.CDLL(None).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0\n"
        "print(before, wx())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == ["allowed", "refused"], result.stderr


@pytest.mark.skipif(not _mdwe_available(), reason="this kernel has no PR_SET_MDWE (Linux 6.3 or later)")
async def test_proxy_and_origin_work_with_memory_deny_write_execute(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    config = make_config_dir(tmp_path / "config", rsa_key)
    store = tmp_path / "store.db"
    origin_port, proxy_port = free_port(), free_port()
    origin = under_mdwe(
        "origin", "--listen", f"127.0.0.1:{origin_port}", env={"FLE_STORE": f"sqlite:///{store}"}
    )
    proxy = under_mdwe(
        "proxy", "--config", str(config), "--origin", f"http://127.0.0.1:{origin_port}",
        "--listen", f"127.0.0.1:{proxy_port}", "--admin", "off", "--workers", "2",
        env={},
    )  # fmt: skip
    try:
        origin.wait_for("origin listening")
        proxy.wait_for("with 2 workers")  # the parent says so once every worker listens
        form = {"name": "Jane", "email": "j@example.org", "phone": "404-555-0150"}
        async with aiohttp.ClientSession() as session:
            for _ in range(4):  # more than one worker gets a turn
                async with session.post(f"http://127.0.0.1:{proxy_port}/submit", data=form) as response:
                    assert response.status == 200, await response.text()
    finally:
        for process in (proxy, origin):
            process.stop()
    sqlite = SqliteStore(str(store))
    try:
        items = await sqlite.recent(10)
    finally:
        await sqlite.close()
    assert len(items) == 4
    for item in items:
        assert item.fields["name"] == "Jane" and item.encrypted_fields == ("phone",)
        assert item.fields["phone"].startswith("AYAB")


def reveal_command(port: int, credentials: Path, logs: Path) -> list[str]:
    """fle-reveal.service's ExecStart (after `fle`), with systemd's substitutions made the way systemd
    makes them: %d the credentials directory, ${VAR} from the unit's Environment= defaults."""
    command = unit_settings("fle-reveal.service")["ExecStart"]
    command = command.replace("%d", str(credentials)).replace("/var/log/fle-reveal", str(logs))
    command = command.replace("${LOG_LEVEL}", "INFO").replace("${REVEAL_LISTEN}", f"127.0.0.1:{port}")
    argv = shlex.split(command)
    assert argv[0] == INSTALLED_FLE and "$" not in command, command
    return argv[1:]


def as_credentials(directory: Path, *files: Path) -> Path:
    """Copies laid out as systemd lays out $CREDENTIALS_DIRECTORY: one flat directory, each file 0400."""
    directory.mkdir(mode=0o700)
    for file in files:
        copy = directory / file.name
        copy.write_bytes(file.read_bytes())
        copy.chmod(0o400)
    return directory


@pytest.mark.skipif(not _mdwe_available(), reason="this kernel has no PR_SET_MDWE (Linux 6.3 or later)")
async def test_reveal_works_with_memory_deny_write_execute_as_its_unit_runs_it(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pki = make_pki(tmp_path / "pki")
    keystore = write_file_keystore(tmp_path / "etc", rsa_key, "pw", env="FLE_KEY_PASSPHRASE")
    logs = tmp_path / "log"
    logs.mkdir()
    async with processor(pki) as upstream:
        # ca_file relative to the routes file: read from the credentials directory, another credential
        routes = write_routes(tmp_path / "etc", upstream.url, ca_file=Path(pki.ca.name))
        credentials = as_credentials(
            tmp_path / "credentials", routes, keystore, keystore.parent / "DemoPublicKey.pem", pki.ca
        )
        port = free_port()
        reveal = under_mdwe(
            *reveal_command(port, credentials, logs),
            env={"FLE_KEYSTORE": str(credentials / "keystore.toml"), "FLE_KEY_PASSPHRASE": "pw"},
        )
        try:
            await reveal.wait_for_async("reveal listening on http://127.0.0.1:")
            secret = urllib.parse.quote(proxy_encrypt(rsa_key, b"4111111111111111"), safe="")
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            url = f"http://127.0.0.1:{port}/processor/charges"
            async with aiohttp.ClientSession() as session:
                async with session.post(url, data=f"card_number={secret}", headers={**form, **bearer()}) as r:
                    assert r.status == 201, await r.text()
                async with session.post(url, data=f"card_number={secret}", headers=form) as r:
                    assert r.status == 407  # no caller token: refused, nothing forwarded
        finally:
            output = reveal.stop()
    assert [seen.body for seen in upstream.seen] == [b"card_number=4111111111111111"]
    assert "4111111111111111" not in output
    audit = (logs / "audit.jsonl").read_text()
    assert [json.loads(line)["phase"] for line in audit.splitlines()] == ["sending", "answered"]
