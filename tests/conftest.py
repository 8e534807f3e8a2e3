from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

pytest_plugins = [
    "tests.fixtures_dynalite",
    "tests.fixtures_browser",
    "tests.fixtures_decryptor",
    "tests.fixtures_proxy",
    "tests.fixtures_softhsm",
    "tests.fixtures_moto",
    "tests.fixtures_origins",
    "tests.fixtures_process",
]


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
