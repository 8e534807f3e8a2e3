from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping

import pytest
import uvloop
from cryptography.hazmat.primitives.asymmetric import rsa

pytest_plugins = [
    "tests.fixtures_dynalite",
    "tests.fixtures_browser",
    "tests.fixtures_decryptor",
    "tests.fixtures_proxy",
    "tests.fixtures_softhsm",
    "tests.fixtures_moto",
    "tests.fixtures_origins",
    "tests.fixtures_default_origins",
    "tests.fixtures_process",
]


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_ASYNCIO_ONLY: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
_BOTH_LOOPS: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, object]:
    """Tests marked `both_loops` run twice, on the stdlib loop and on uvloop (`fle proxy --loop`); the
    proxy they start in-process runs on the test's loop. Every other test runs on asyncio alone (one
    factory: pytest-asyncio adds no id, so their names do not change)."""
    return _BOTH_LOOPS if item.get_closest_marker("both_loops") else _ASYNCIO_ONLY


@pytest.fixture(autouse=True)
def no_process_on_a_default_port() -> Iterator[None]:
    """Fail a test whose `fle` process listened on a default port (8080, 9180, ...): on another machine, or
    beside another test run, that port is taken and the test fails for no reason of its own. Processes say
    where they listen ("proxy listening on http://..."); fixtures_process.py notes any such line."""
    from tests.fixtures_process import DEFAULT_PORTS, ON_DEFAULT_PORTS  # a plugin: imported once registered

    before = len(ON_DEFAULT_PORTS)
    yield
    found = ON_DEFAULT_PORTS[before:]
    del ON_DEFAULT_PORTS[before:]
    assert not found, (
        f"a process listened on a default port {sorted(DEFAULT_PORTS)}; give it a port from the OS "
        f"(127.0.0.1:0, free_port()) or --admin off: {found}"
    )
