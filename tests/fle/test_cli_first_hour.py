"""The first hour with `fle`, as processes: start-up refusals in one line (a store that cannot work, a busy
port, a wrong passphrase), read-only commands that never create a store, --version and --log-level."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fle import cli
from store import SqliteStore, Submission
from tests.fixtures_decryptor import proxy_encrypt
from tests.fixtures_process import ROOT, FleProcess, fle, fle_command, fle_env, free_port
from tests.helpers import make_config_dir, write_file_keystore


def refused_in_one_line(process: FleProcess) -> str:
    output = process.finish()
    assert process.returncode == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that someone else is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


# --- 2. fle origin checks its DynamoDB store at start-up -------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no region", "no AWS region for DynamoDB: set AWS_REGION"),
        ("no credentials", "Unable to locate credentials"),
        ("missing table", "does not exist (creating it is turned off)"),
    ],
)
def test_origin_with_a_dynamodb_store_that_cannot_work_exits_at_start_up(
    dynamodb_env: str, monkeypatch: pytest.MonkeyPatch, case: str, expected: str
) -> None:
    if case == "no region":
        monkeypatch.delenv("AWS_DEFAULT_REGION")
        monkeypatch.delenv("AWS_REGION", raising=False)
    if case == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    line = refused_in_one_line(
        fle(
            "origin",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--store",
            f"dynamodb://{dynamodb_env}?create=false",
        )
    )
    assert line.startswith(f"fle origin: store dynamodb://{dynamodb_env}?create=false: ") and expected in line


async def test_origin_with_aws_region_alone_stores_submissions_and_keeps_botocore_quiet(
    dynamodb_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    port = free_port()
    origin = fle("origin", "--listen", f"127.0.0.1:{port}", "--store", f"dynamodb://{dynamodb_env}")
    try:
        origin.wait_for("origin listening")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/submit", data={"name": "Jane"}) as response:
                assert response.status == 200
    finally:
        output = origin.stop(signal.SIGINT, timeout=60)
    assert "Found credentials" not in output  # botocore's INFO line, below the default level


# --- 3. read-only commands refuse a missing SQLite store ------------------------------------------------


@pytest.mark.parametrize("command", ["decrypt", "rewrap"])
def test_read_only_commands_refuse_a_missing_sqlite_store(
    command: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "pw")
    write_file_keystore(tmp_path / "ks", rsa_key, "pw", name="NewKey")
    keys = ["--from", "FLEDemo/DemoPublicKey", "--to", "FLEDemo/NewKey"]
    args = ["--recent", "1"] if command == "decrypt" else keys
    env = {"FLE_KEYSTORE": str(keystore), "TEST_KEY_PASSPHRASE": "pw"}
    env["FLE_STORE"] = "sqlite:///fle-demo-state/store.db"  # relative to the working directory: not there
    line = refused_in_one_line(fle(command, *args, env=env, cwd=tmp_path))
    assert f"no SQLite store at 'fle-demo-state/store.db' (relative to '{tmp_path}'" in line
    assert not (tmp_path / "fle-demo-state").exists()


# --- 4. a busy port is one line naming the flag ---------------------------------------------------------


def test_origin_on_a_busy_port(busy_port: int, tmp_path: Path) -> None:
    line = refused_in_one_line(
        fle("origin", "--listen", f"127.0.0.1:{busy_port}", "--store", f"sqlite:///{tmp_path / 's.db'}")
    )
    assert line == (
        f"fle origin: cannot listen on 127.0.0.1:{busy_port}: the address is already in use; "
        "choose another with --listen"
    )


@pytest.mark.parametrize("which", ["--listen", "--admin"])
def test_proxy_with_one_worker_on_a_busy_port(
    which: str, busy_port: int, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    ports = {"--listen": f"127.0.0.1:{free_port()}", "--admin": f"127.0.0.1:{free_port()}"}
    ports[which] = f"127.0.0.1:{busy_port}"
    config = make_config_dir(tmp_path / "config", rsa_key)
    line = refused_in_one_line(
        fle("proxy", "--config", str(config), "--origin", "http://127.0.0.1:1", "--workers", "1",
            "--listen", ports["--listen"], "--admin", ports["--admin"])
    )  # fmt: skip
    assert f"cannot listen on 127.0.0.1:{busy_port}: the address is already in use" in line
    assert f"choose another with {which}" in line


@pytest.mark.parametrize("flag", ["--proxy-port", "--origin-port"])
def test_demo_on_a_busy_port_names_the_flag(flag: str, busy_port: int, tmp_path: Path) -> None:
    ports = {"--proxy-port": str(free_port()), "--origin-port": str(free_port())}
    ports[flag] = str(busy_port)
    process = fle("demo", "--state-dir", str(tmp_path / "state"), *(x for kv in ports.items() for x in kv),
                  env={"FLE_KEY_PASSPHRASE": "pw"})  # fmt: skip
    output = process.finish()
    assert process.returncode == 2 and "Traceback" not in output
    assert output.strip().endswith(
        f"cannot listen on 127.0.0.1:{busy_port}: the address is already in use; choose another with {flag}"
    )


# --- 8. a wrong passphrase ------------------------------------------------------------------------------


def test_demo_refuses_a_wrong_passphrase_for_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fle.cmd_demo import prepare_state

    monkeypatch.setenv("FLE_KEY_PASSPHRASE", "the right one")
    prepare_state(tmp_path / "state")  # the first run's key, made with that passphrase
    process = fle("demo", "--state-dir", str(tmp_path / "state"), "--proxy-port", str(free_port()),
                  "--origin-port", str(free_port()), env={"FLE_KEY_PASSPHRASE": "wrong"})  # fmt: skip
    line = refused_in_one_line(process)
    assert "wrong passphrase for private key file" in line and "DER" not in line


# --- 9. --version, --log-level, FLE_LOG_LEVEL, defaults in --help, https:// -----------------------------


def test_version() -> None:
    process = fle("--version")
    assert process.finish().startswith("fle ") and process.returncode == 0


def test_log_level_before_or_after_the_subcommand_or_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parse = cli.build_parser().parse_args
    assert parse(["origin"]).log_level == "INFO"
    assert parse(["--log-level", "ERROR", "origin"]).log_level == "ERROR"
    assert parse(["origin", "--log-level", "debug"]).log_level == "DEBUG"
    assert parse(["--log-level", "ERROR", "keys", "list", "--log-level", "WARNING"]).log_level == "WARNING"
    monkeypatch.setenv("FLE_LOG_LEVEL", "warning")
    assert cli.build_parser().parse_args(["origin"]).log_level == "WARNING"


def test_every_help_shows_the_defaults() -> None:
    for parser in cli._parsers(cli.build_parser()):
        for action in parser._actions:
            shown = action.default not in (None, False, argparse.SUPPRESS) and action.option_strings
            if shown and action.dest not in ("help", "version"):
                assert "default" in (action.help or ""), (parser.prog, action.option_strings)
    process = subprocess.run([sys.executable, "-m", "fle", "rewrap", "--help"], capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)  # fmt: skip
    assert "items read per batch (default: 50)" in " ".join(process.stdout.split())


def test_workers_parent_logs_https_with_tls(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, tls_files) -> None:  # type: ignore[no-untyped-def]
    cert, key = tls_files
    port = free_port()
    process = fle("proxy", "--config", str(make_config_dir(tmp_path / "config", rsa_key)),
                  "--origin", "http://127.0.0.1:1", "--listen", f"127.0.0.1:{port}", "--admin", "off",
                  "--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key))  # fmt: skip
    try:
        lines = process.wait_for("with 2 workers")
        assert f"proxy listening on https://127.0.0.1:{port} with 2 workers" in lines[-1]
    finally:
        process.stop(timeout=60)


# --- issue 25.1: the sample's key is not the demo's; a missing key entry says so ------------------------


def _key_identity(config_dir: Path) -> tuple[str, str, str]:
    """(provider id, key name, key Id) of a one-key, one-profile configuration directory."""
    key = json.loads((config_dir / "public-key.json").read_text())["PublicKey"]
    profile = json.loads((config_dir / "profile.json").read_text())["FieldLevelEncryptionProfile"]
    [entity] = profile["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"]["Items"]
    return entity["ProviderId"], key["PublicKeyConfig"]["Name"], key["Id"]


async def test_a_proxy_on_the_sample_stores_what_the_demo_keystore_names_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fle_process: Callable[..., FleProcess]
) -> None:
    from fle.cmd_demo import prepare_state

    monkeypatch.setenv("FLE_KEY_PASSPHRASE", "demo pass")
    state = tmp_path / "state"
    prepare_state(state)
    sample, demo = _key_identity(ROOT / "profiles" / "examples"), _key_identity(state / "config")
    assert demo == ("FLEDemo", "DemoPublicKey", "K3D5EWEUDCCXON")
    assert all(s != d for s, d in zip(sample, demo, strict=True)), (sample, demo)
    sample_key = json.loads((ROOT / "profiles" / "examples" / "public-key.json").read_text())["PublicKey"]
    assert "SAMPLE ONLY" in sample_key["PublicKeyConfig"]["Comment"]

    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    origin_port, proxy_port = free_port(), free_port()
    origin = fle_process("origin", "--listen", f"127.0.0.1:{origin_port}", "--store", store_url)
    proxy = fle_process("proxy", "--config", str(ROOT / "profiles" / "examples"), "--origin",
                        f"http://127.0.0.1:{origin_port}", "--listen", f"127.0.0.1:{proxy_port}",
                        "--admin", "off", "--workers", "1")  # fmt: skip
    await origin.wait_for_async("origin listening")
    await proxy.wait_for_async("proxy listening")
    async with aiohttp.ClientSession() as session:
        form = {"name": "Jane", "phone": "404-555-0150"}
        async with session.post(f"http://127.0.0.1:{proxy_port}/submit", data=form) as response:
            assert response.status == 200
            item_id = response.headers["X-Submission-Id"]
    env = {"FLE_KEYSTORE": str(state / "keystore.toml"), "FLE_STORE": store_url}
    decrypt = fle("decrypt", "--recent", "1", env=env, separate_stderr=True)
    decrypt.finish()
    assert decrypt.returncode == 1
    assert decrypt.stderr().splitlines()[0] == (
        f"fle decrypt: item {item_id} field phone: key_unknown: "
        "no private key for FLESample/SampleKeyNoPrivateHalf in this keystore"
    )
    assert "tampered" not in decrypt.stderr() and "ERROR: key_unknown" in decrypt.stdout()


# --- issue 25.6: fle decrypt's reasons on their own lines, audit lines in a file ------------------------


@pytest.fixture
def stored_phone(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> tuple[Path, str, str]:
    """(keystore, store URL, item id): one stored item whose phone the keystore's key can open."""
    keystore = write_file_keystore(tmp_path / "ks", rsa_key, "right")
    store = SqliteStore(tmp_path / "store.db")
    item = Submission(fields={"name": "Jane", "phone": proxy_encrypt(rsa_key, b"404-555-0150")})
    asyncio.run(store.put(item))
    asyncio.run(store.close())
    return keystore, f"sqlite:///{tmp_path / 'store.db'}", item.id


def test_decrypt_with_a_wrong_passphrase_says_so_on_its_own_line(stored_phone: tuple[Path, str, str]) -> None:
    keystore, store_url, item_id = stored_phone
    env = {"FLE_KEYSTORE": str(keystore), "FLE_STORE": store_url, "TEST_KEY_PASSPHRASE": "wrong"}
    decrypt = fle("decrypt", "--recent", "1", env=env, separate_stderr=True)
    decrypt.finish()
    assert decrypt.returncode == 1 and "ERROR: key_unavailable" in decrypt.stdout()
    first, last = decrypt.stderr().splitlines()
    assert first.startswith(f"fle decrypt: item {item_id} field phone: key_unavailable: ")
    assert "wrong passphrase for private key file" in first and "(from TEST_KEY_PASSPHRASE)" in first
    audit_file = keystore.parent / "decrypt-audit.jsonl"
    assert last == f"fle decrypt: the audit lines are in {audit_file}"
    [audit] = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert (audit["item_id"], audit["reason"]) == (item_id, "key_unavailable")


def test_decrypt_keeps_stderr_empty_when_all_is_well_and_audits_to_stderr_when_asked(
    stored_phone: tuple[Path, str, str],
) -> None:
    keystore, store_url, item_id = stored_phone
    env = {"FLE_KEYSTORE": str(keystore), "FLE_STORE": store_url, "TEST_KEY_PASSPHRASE": "right"}
    quiet = fle("decrypt", "--recent", "1", env=env, separate_stderr=True)
    quiet.finish()
    assert quiet.returncode == 0 and "404-555-0150" in quiet.stdout() and quiet.stderr() == ""
    assert (keystore.parent / "decrypt-audit.jsonl").exists()
    loud = fle("decrypt", "--recent", "1", "--audit-file", "-", env=env, separate_stderr=True)
    loud.finish()
    [audit] = [json.loads(line) for line in loud.stderr().splitlines()]
    assert (audit["item_id"], audit["outcome"]) == (item_id, "decrypted")


# --- issue 25.2: a second demo run without the passphrase refuses at start ------------------------------


def test_demo_rerun_without_its_passphrase_refuses_at_start_saying_how_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fle.cmd_demo import prepare_state

    monkeypatch.setenv("FLE_KEY_PASSPHRASE", "printed on the first run")
    prepare_state(tmp_path / "state")
    env = {**os.environ}
    env.pop("FLE_KEY_PASSPHRASE")
    ports = ["--proxy-port", str(free_port()), "--origin-port", str(free_port())]
    command = fle_command("demo", "--state-dir", str(tmp_path / "state"), *ports)
    process = FleProcess(command, env=fle_env(base=env))
    line = refused_in_one_line(process)
    assert line.startswith(f"fle demo: the demo key in {tmp_path / 'state'} was made on an earlier run")
    assert "give it as FLE_KEY_PASSPHRASE=" in line and f"rm -rf {tmp_path / 'state'}" in line


# --- issue 25.10: a malformed flag value is one line; a dead origin is named at start and in errors -----

# a malformed value for each kind of checked flag (the type function or the choices decide)
_MALFORMED = {
    "int": "ten",
    "float": "soon",
    "port": "80810",
    "listen_address": "127.0.0.1:80810",
    "listen_address_or_off": "nowhere",
    "http_url": "http://127.0.0.1:80810",
}


def _value_flags() -> Iterator[tuple[list[str], argparse.Action]]:
    """(subcommand words, action) for every flag of every `fle` subcommand that takes a value."""
    for parser in cli._parsers(cli.build_parser()):
        words = parser.prog.split()[1:]
        for action in parser._actions:
            if action.nargs == 0 or isinstance(action, argparse._SubParsersAction) or action.dest == "help":
                continue
            yield words, action


def test_every_checked_flag_refuses_a_malformed_value_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    checked = 0
    for words, action in _value_flags():
        kind = getattr(action.type, "__name__", None)
        if action.choices is not None:
            bad = "no-such-choice"
        elif kind in _MALFORMED:
            bad = _MALFORMED[kind]
        else:
            continue  # free text (a path, a name): checked where it is used, each with its own one line
        argv = [*words, *(action.option_strings[-1:] or []), bad]
        with pytest.raises(SystemExit) as exited:
            cli.build_parser().parse_args(argv)
        err = capsys.readouterr().err
        assert exited.value.code == 2, argv
        assert err.count("\n") == 1 and "usage:" not in err, (argv, err)
        named = "/".join(action.option_strings) if action.option_strings else action.metavar
        assert f"argument {named}: " in err, (argv, err)
        checked += 1
    assert checked >= 40  # every int/float limit, port, address, URL and choice of every subcommand


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["proxy", "--config", "profiles/examples", "--origin", "http://127.0.0.1:80810"],
         "fle proxy: argument --origin: 'http://127.0.0.1:80810' is not a valid URL"),
        (["proxy", "--config", "profiles/examples", "--origin", "http://127.0.0.1:1", "--admin", "9180"],
         "fle proxy: argument --admin: '9180': expected HOST:PORT"),
        (["demo", "--proxy-port", "70000"], "fle demo: argument --proxy-port: '70000' is not a port number"),
        (["origin", "--listen", "localhost"], "fle origin: argument --listen: 'localhost': expected"),
        (["proxy", "--config", "profiles/examples", "--origin", "http://127.0.0.1:1", "--admin", "off",
          "--listen", "127.0.0.1:0", "--workers", "1", "--access-log", "/proc/no/such/dir/access.log"],
         "fle proxy: --access-log /proc/no/such/dir/access.log: cannot open it"),
    ],
)  # fmt: skip
def test_malformed_flag_values_as_a_user_meets_them(args: list[str], expected: str) -> None:
    process = fle(*args, separate_stderr=True)
    process.finish()
    assert process.returncode == 2 and "Traceback" not in process.output()
    assert process.stderr().splitlines()[-1].startswith(expected), process.output()


async def test_proxy_warns_at_start_of_a_dead_origin_and_names_it_in_its_error_lines(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, fle_process: Callable[..., FleProcess]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proxy = fle_process("proxy", "--config", str(make_config_dir(tmp_path / "config", rsa_key)),
                        "--origin", dead, "--listen", "127.0.0.1:0", "--admin", "off",
                        "--workers", "1", separate_stderr=True)  # fmt: skip
    await proxy.wait_for_async("proxy listening")
    [warning] = await proxy.wait_for_async("does not answer now")
    assert f"origin {dead} does not answer now (Connection refused); starting anyway" in warning
    async with aiohttp.ClientSession() as session:
        async with session.post(proxy.url("proxy") + "/submit", data={"name": "Jane"}) as response:
            assert response.status == 502
    await proxy.wait_for_async("request failed")
    [failed] = [line for line in proxy.stderr().splitlines() if "request failed" in line]
    assert f"origin {dead}: request failed: ConnectFailed" in failed
