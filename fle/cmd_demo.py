"""`fle demo`: the classic field-level encryption sample, on loopback, in one command.

First run: makes an RSA-2048 key pair (private key encrypted, mode 0600), a CloudFront-format config
directory and a keystore file in the state directory. Every run: starts the origin and the proxy and
prints what to open and how to decrypt what was stored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import secrets
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import argtypes, cli, serve
from .cmd_proxy import proxy_settings

if TYPE_CHECKING:
    from decryptor import AuditLog
    from edge_proxy import Listener
    from origin.charge import Charge

log = logging.getLogger("fle")
PASSPHRASE_ENV = "FLE_KEY_PASSPHRASE"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("demo", help="run the sample: origin + proxy + store + keys on loopback")
    p.add_argument("--state-dir", default=os.environ.get("FLE_DEMO_DIR", "fle-demo-state"), metavar="DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--proxy-port", type=argtypes.port, default=8080)
    p.add_argument("--origin-port", type=argtypes.port, default=8081)
    # only the origin calls reveal, and only reveal the processor: any free port will do unless one is given
    p.add_argument(
        "--reveal-port", type=argtypes.port, default=0, help="the charge step's reveal proxy (0: any free)"
    )
    p.add_argument(
        "--processor-port", type=argtypes.port, default=0, help="the fake payment processor (0: any free)"
    )
    p.set_defaults(run=run)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def prepare_state(state: Path) -> str | None:
    """Create keys, config and keystore on first run; returns a newly generated passphrase, if any."""
    from keystore.tooling import create_file_key, public_pem
    from profiles.examples import DEMO_KEY_NAME, DEMO_PROVIDER_ID, write_example_config

    key_path = state / "keys" / "demo.pem"
    keystore_path = state / "keystore.toml"
    if key_path.exists() and keystore_path.exists():
        return None
    state.mkdir(parents=True, exist_ok=True)
    generated = None
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if not passphrase:
        passphrase = generated = secrets.token_urlsafe(18)
    public_key = create_file_key(key_path, passphrase.encode("utf-8"))
    write_example_config(state / "config", public_pem(public_key))
    keystore_path.write_text(
        "# Written by fle demo. The passphrase comes from the environment, never from this file.\n"
        "[[key]]\n"
        f"provider_id = {_toml_str(DEMO_PROVIDER_ID)}\n"
        f"key_name = {_toml_str(DEMO_KEY_NAME)}\n"
        'backend = "file"\n'
        f"path = {_toml_str(str(key_path.resolve()))}\n"
        f"passphrase_env = {_toml_str(PASSPHRASE_ENV)}\n",
        encoding="utf-8",
    )
    return generated


def check_demo_key(state: Path) -> None:
    """Open the demo key with the passphrase in the environment now, so a wrong one stops the demo here
    instead of surfacing only when `fle decrypt` runs."""
    from keystore import Keystore, KeystoreError
    from profiles.examples import DEMO_KEY_NAME, DEMO_PROVIDER_ID

    try:
        keystore = Keystore.from_file(state / "keystore.toml")
        try:
            keystore.backend(DEMO_PROVIDER_ID, DEMO_KEY_NAME)
        finally:
            keystore.close()
    except KeystoreError as e:
        raise cli.CliError(f"{e}; give the passphrase shown when the demo key was made") from e


def missing_passphrase(state: Path) -> str:
    """Why a second run cannot start without the passphrase, and the two ways on."""
    return (
        f"the demo key in {state} was made on an earlier run and is encrypted with the passphrase printed "
        f"then: give it as {PASSPHRASE_ENV}=... (e.g. {PASSPHRASE_ENV}='...' scripts/demo), or start over "
        f"with a new key: rm -rf {shlex.quote(str(state))}"
    )


def write_demo_routes(state: Path, token: str, processor_url: str) -> Path:
    """The reveal routes of the charge step: caller `origin` (this run's token) may send the `phone` field,
    decrypted with the demo key, to the fake processor (plain http: it is on loopback)."""
    from profiles.examples import DEMO_KEY_NAME, DEMO_PROVIDER_ID

    path = state / "reveal-routes.toml"
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    path.write_text(
        "# Written by fle demo on every run (the token is new each run and stored nowhere).\n"
        f'[[caller]]\nname = "origin"\ntoken_sha256 = "{digest}"\n\n'
        f'[[route]]\nname = "processor"\nprefix = "/processor/"\n'
        f"upstream = {_toml_str(processor_url + '/')}\n"
        'methods = ["POST"]\nreveal = ["phone"]\n'
        f"keys = [{_toml_str(f'{DEMO_PROVIDER_ID}/{DEMO_KEY_NAME}')}]\n"
        'callers = ["origin"]\n',
        encoding="utf-8",
    )
    return path


async def start_charge_step(
    state: Path, host: str, reveal_port: int, processor_port: int
) -> tuple[list[Listener], Charge, AuditLog]:
    """The fake processor and the reveal proxy in front of it; the origin's Charge settings for them."""
    from decryptor import AuditLog, Decryptor
    from edge_proxy import start_site
    from keystore import Keystore
    from origin.charge import Charge
    from reveal import load_routes
    from reveal.server import start_reveal

    from .demo_processor import processor_app

    listeners: list[Listener] = []
    audit = AuditLog(str(state / "reveal-audit.jsonl"))
    try:
        with serve.listening(host, processor_port, "--processor-port"):
            processor, processor_url = await start_site(processor_app(), host, processor_port)
        listeners.append(processor)
        token = secrets.token_urlsafe(24)
        routes = load_routes(write_demo_routes(state, token, processor_url))
        decryptor = Decryptor(Keystore.from_file(state / "keystore.toml"))
        with serve.listening(host, reveal_port, "--reveal-port"):
            reveal, reveal_url = await start_reveal(routes, decryptor, audit, host, reveal_port)
        listeners.append(reveal)
    except BaseException:
        for listener in listeners:
            await listener.cleanup()
        audit.close()
        raise
    log.debug("charge step: reveal on %s, fake processor on %s", reveal_url, processor_url)
    return listeners, Charge(f"{reveal_url}/processor/charges", token), audit


def _fle_command() -> str:
    """How to run this same `fle` again (scripts/demo's .venv/bin/fle is not on the user's PATH)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "fle":
        return shlex.quote(str(argv0.absolute()))
    return f"{shlex.quote(sys.executable)} -m fle"


def run(args: argparse.Namespace) -> int:
    from edge_proxy import build_app as build_proxy
    from edge_proxy import start_site, until_signalled
    from origin import build_app as build_origin
    from store import open_store

    state = Path(args.state_dir).resolve()
    if (state / "keys" / "demo.pem").exists() != (state / "keystore.toml").exists():
        raise cli.CliError(f"{state} holds a partial demo set-up; remove it and run again")
    if (state / "keystore.toml").exists() and not os.environ.get(PASSPHRASE_ENV):
        raise cli.CliError(missing_passphrase(state))
    try:
        generated = prepare_state(state)
    except OSError as e:
        raise cli.CliError(f"--state-dir {state}: cannot make the demo there ({e.strerror or e})") from e
    if not generated:
        check_demo_key(state)
    store_url = f"sqlite:///{state / 'store.db'}"
    origin_url = f"http://{args.host}:{args.origin_port}"
    settings = proxy_settings(str(state / "config"), origin_url)

    if generated:  # the reveal proxy of the charge step opens the demo key in this process
        os.environ[PASSPHRASE_ENV] = generated

    async def main() -> None:
        charge_listeners, charge, audit = await start_charge_step(
            state, args.host, args.reveal_port, args.processor_port
        )
        try:
            with serve.listening(args.host, args.origin_port, "--origin-port"):
                origin_runner, _ = await start_site(
                    build_origin(open_store(store_url), charge), args.host, args.origin_port,
                    auto_decompress=True,
                )  # fmt: skip
        except BaseException:
            for listener in charge_listeners:
                await listener.cleanup()
            raise
        try:
            # the proxy's own server settings: it, not aiohttp, decides what to do with compressed bodies
            with serve.listening(args.host, args.proxy_port, "--proxy-port"):
                proxy_runner, proxy_url = await start_site(build_proxy(settings), args.host, args.proxy_port)
        except serve.ListenError:
            await origin_runner.cleanup()
            for listener in charge_listeners:
                await listener.cleanup()
            raise
        passphrase = shlex.quote(generated) if generated else f'"${PASSPHRASE_ENV}"'
        env = (
            f"FLE_KEYSTORE={shlex.quote(str(state / 'keystore.toml'))} FLE_STORE={shlex.quote(store_url)} "
            f"{PASSPHRASE_ENV}={passphrase}"
        )
        lines = [
            "",
            "Field-level encryption demo is running.",
            f"  Open the form through the edge proxy:  {proxy_url}/",
            f"  Origin (what the application sees):   {origin_url}/",
            f"  State (keys, config, keystore, store): {state}",
            "",
            "Submit the form: the origin stores the phone number as ciphertext. Decrypt it with:",
            f"  {env} {_fle_command()} decrypt --recent 5",
            "",
            'On the answer page, "Charge through the reveal proxy" sends the stored ciphertext to the reveal',
            f"proxy ({charge.url.rsplit('/processor/', 1)[0]}), which decrypts the phone number on its way",
            "to a fake payment processor that shows its last 4 digits.",
            f"  Reveal's audit lines: {state / 'reveal-audit.jsonl'}",
        ]
        if generated:
            lines += [
                "",
                f"The demo key's passphrase ({PASSPHRASE_ENV}) was made now and is stored nowhere: keep it.",
            ]
        else:
            lines += ["", f"({PASSPHRASE_ENV} must hold the passphrase shown when the demo key was made.)"]
        lines += ["", "Press Ctrl-C to stop.", ""]
        print("\n".join(lines), flush=True)
        try:
            await until_signalled()
        finally:
            await proxy_runner.cleanup()
            await origin_runner.cleanup()
            for listener in charge_listeners:
                await listener.cleanup()
            audit.close()
            print("stopped.", flush=True)

    try:
        return serve.run(main)
    except serve.ListenError as e:
        raise cli.CliError(str(e)) from e
