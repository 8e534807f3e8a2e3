"""The routes file is validated whole at load, with errors naming the file, the entry and the field; the
gate (caller, path, method) refuses before anything is read; `fle reveal` reports a bad file in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reveal import RevealRefused, RoutesError, gate, load_routes
from tests.reveal_support import OTHER_TOKEN, TOKEN, make_pki, sha, write_routes

CALLER = f'[[caller]]\nname = "billing"\ntoken_sha256 = "{sha(TOKEN)}"\n\n'
ROUTE = (
    '[[route]]\nname = "p"\nprefix = "/p/"\nupstream = "https://api.example/v1/"\nmethods = ["POST"]\n'
    'reveal = ["card_number", "/card/number"]\nkeys = ["FLEDemo/DemoPublicKey"]\ncallers = ["billing"]\n'
)


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "routes.toml"
    path.write_text(text)
    return load_routes(path)


def test_a_good_file_loads(tmp_path: Path) -> None:
    config = load(tmp_path, CALLER + ROUTE)
    [route] = config.routes
    assert route.keys == {("FLEDemo", "DemoPublicKey")} and route.methods == {"POST"}
    assert [p.text for p in route.names] == ["card_number"] and [p.text for p in route.pointers] == [
        "/card/number"
    ]
    assert route.ssl_context is not None  # https: verified with the system trust store


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            ('upstream = "https://api.example/v1/"', 'upstream = "http://api.example/v1/"'),
            "route[0]: upstream",
        ),
        (
            ('upstream = "https://api.example/v1/"', 'upstream = "https://api.example/v1"'),
            "route[0]: upstream",
        ),
        (
            ('upstream = "https://api.example/v1/"', 'upstream = "https://u:p@api.example/"'),
            "route[0]: upstream",
        ),
        (('prefix = "/p/"', 'prefix = "/p"'), "route[0]: prefix"),
        (('prefix = "/p/"', 'prefix = "/a/../p/"'), "route[0]: prefix"),
        (('methods = ["POST"]', 'methods = ["BREW"]'), "route[0]: methods"),
        (('callers = ["billing"]', 'callers = ["nobody"]'), "route[0]: callers"),
        (('keys = ["FLEDemo/DemoPublicKey"]', 'keys = ["FLEDemo"]'), "route[0]: keys"),
        (('keys = ["FLEDemo/DemoPublicKey"]', "keys = []"), "route[0]: keys"),
        (('reveal = ["card_number", "/card/number"]', 'reveal = ["card number"]'), "route[0]: reveal"),
        (('name = "p"', 'name = "p"\nca_file = "missing.pem"'), "route[0]: ca_file"),
        (('name = "p"', 'name = "p"\ncolour = "red"'), "route[0]: unknown field(s) colour"),
        ((f'token_sha256 = "{sha(TOKEN)}"', 'token_sha256 = "abc"'), "caller[0]: token_sha256"),
    ],
)
def test_a_bad_entry_is_named_with_its_field(tmp_path: Path, change: tuple[str, str], where: str) -> None:
    with pytest.raises(RoutesError) as caught:
        load(tmp_path, (CALLER + ROUTE).replace(*change))
    assert f"routes.toml: {where}" in str(caught.value)


def test_plain_http_is_allowed_on_loopback_only_and_overlapping_prefixes_are_refused(tmp_path: Path) -> None:
    config = load(tmp_path, CALLER + ROUTE.replace("https://api.example/v1/", "http://127.0.0.1:9/v1/"))
    assert config.routes[0].ssl_context is None
    second = ROUTE.replace('name = "p"', 'name = "q"').replace('prefix = "/p/"', 'prefix = "/p/x/"')
    with pytest.raises(RoutesError, match=r"route\[1\]: prefix: overlaps route 'p'"):
        load(tmp_path, CALLER + ROUTE + "\n" + second)


def test_the_gate(tmp_path: Path) -> None:
    config = load_routes(write_routes(tmp_path, "https://127.0.0.1:1", ca_file=make_pki(tmp_path / "pki").ca))
    billing = gate.authenticate(config, f"Bearer {TOKEN}")
    assert (
        billing.name == "billing" and gate.authenticate(config, f"bearer  {OTHER_TOKEN} ").name == "support"
    )
    for header, status in ((None, 407), ("Basic x", 407), ("Bearer", 407), ("Bearer nope", 403)):
        with pytest.raises(RevealRefused) as caught:
            gate.authenticate(config, header)
        assert caught.value.status == status
    assert gate.check_target("/processor/a/b?x=%2F") == ("/processor/a/b", "x=%2F")  # the query is not a path
    assert gate.match(config, "/processor/a", billing, "POST").name == "processor"


def test_fle_reveal_names_a_bad_routes_file(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(CALLER + ROUTE.replace('methods = ["POST"]', 'methods = ["BREW"]'))
    keystore = tmp_path / "keystore.toml"
    keystore.write_text('[[key]]\nprovider_id = "a"\nkey_name = "b"\nbackend = "file"\npath = "k.pem"\n')
    env = {**os.environ, "FLE_KEYSTORE": str(keystore)}
    done = subprocess.run(
        [sys.executable, "-m", "fle", "reveal", "--routes", str(routes), "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{routes}: route[0]: methods: unknown method(s) BREW" in done.stderr
