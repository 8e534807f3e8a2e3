"""`fle demo`: the classic field-level encryption sample, on loopback, in one command.

First run: makes an RSA-2048 key pair (private key encrypted, mode 0600), a CloudFront-format config
directory and a keystore file in the state directory. Every run: starts the origin and the proxy and
prints what to open and how to decrypt what was stored.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shlex
import sys
from pathlib import Path

from edge_proxy import build_app as build_proxy
from edge_proxy import start_site, until_signalled
from keystore import Keystore, KeystoreError
from keystore.tooling import create_file_key, public_pem
from origin import build_app as build_origin
from profiles.examples import write_example_config
from store import open_store

from . import cli, serve
from .cmd_proxy import proxy_settings

log = logging.getLogger("fle")
PASSPHRASE_ENV = "FLE_KEY_PASSPHRASE"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("demo", help="run the sample: origin + proxy + store + keys on loopback")
    p.add_argument("--state-dir", default=os.environ.get("FLE_DEMO_DIR", "fle-demo-state"), metavar="DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--proxy-port", type=int, default=8080)
    p.add_argument("--origin-port", type=int, default=8081)
    p.set_defaults(run=run)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def prepare_state(state: Path) -> str | None:
    """Create keys, config and keystore on first run; returns a newly generated passphrase, if any."""
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
        'provider_id = "FLEDemo"\n'
        'key_name = "DemoPublicKey"\n'
        'backend = "file"\n'
        f"path = {_toml_str(str(key_path.resolve()))}\n"
        f"passphrase_env = {_toml_str(PASSPHRASE_ENV)}\n",
        encoding="utf-8",
    )
    return generated


def check_demo_key(state: Path) -> None:
    """Open the demo key with the passphrase in the environment now, so a wrong one stops the demo here
    instead of surfacing only when `fle decrypt` runs."""
    try:
        keystore = Keystore.from_file(state / "keystore.toml")
        try:
            keystore.backend("FLEDemo", "DemoPublicKey")
        finally:
            keystore.close()
    except KeystoreError as e:
        raise cli.CliError(f"{e}; give the passphrase shown when the demo key was made") from e


def _fle_command() -> str:
    """How to run this same `fle` again (scripts/demo's .venv/bin/fle is not on the user's PATH)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "fle":
        return shlex.quote(str(argv0.absolute()))
    return f"{shlex.quote(sys.executable)} -m fle"


def run(args: argparse.Namespace) -> int:
    state = Path(args.state_dir).resolve()
    if (state / "keys" / "demo.pem").exists() != (state / "keystore.toml").exists():
        raise cli.CliError(f"{state} holds a partial demo set-up; remove it and run again")
    generated = prepare_state(state)
    if not generated and os.environ.get(PASSPHRASE_ENV) is not None:
        check_demo_key(state)
    store_url = f"sqlite:///{state / 'store.db'}"
    origin_url = f"http://{args.host}:{args.origin_port}"
    settings = proxy_settings(str(state / "config"), origin_url)

    async def main() -> None:
        with serve.listening(args.host, args.origin_port, "--origin-port"):
            origin_runner, _ = await start_site(
                build_origin(open_store(store_url)), args.host, args.origin_port, auto_decompress=True
            )
        try:
            # the proxy's own server settings: it, not aiohttp, decides what to do with compressed bodies
            with serve.listening(args.host, args.proxy_port, "--proxy-port"):
                proxy_runner, proxy_url = await start_site(
                    build_proxy(settings), args.host, args.proxy_port
                )
        except serve.ListenError:
            await origin_runner.cleanup()
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
            print("stopped.", flush=True)

    try:
        return serve.run(main)
    except serve.ListenError as e:
        raise cli.CliError(str(e)) from e
