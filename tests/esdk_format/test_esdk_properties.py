"""Byte-level compatibility at scale: aws-encryption-sdk decrypts thousands of random fields.

Complements test_esdk_interop.py (fixed sizes and header layout) with 2,000 generated fields: empty,
short and long unicode text, raw binary, sizes around the 4096-byte frame boundary, and 64 KiB values.
Most are small, so the test takes seconds and runs in every suite.
"""

from __future__ import annotations

import random

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_proxy.encrypting import esdk
from tests.helpers import raw_master_key

CLIENT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)
FRAME = esdk.FRAME_LENGTH
_MASTER_KEYS: dict[tuple[int, bytes], RawMasterKey] = {}


def _master_key(key: rsa.RSAPrivateKey, provider: bytes) -> RawMasterKey:
    """Built once per key and provider: loading the private PEM costs far more than a decryption."""
    cache_key = (id(key), provider)
    if cache_key not in _MASTER_KEYS:
        _MASTER_KEYS[cache_key] = raw_master_key(key, provider_id=provider.decode())
    return _MASTER_KEYS[cache_key]


def _random_bytes(size: int) -> st.SearchStrategy[bytes]:
    """`size` pseudo-random bytes from a drawn seed: cheap for hypothesis to generate and to shrink."""
    return st.integers(0, 2**32 - 1).map(lambda seed: random.Random(seed).randbytes(size))


FIELDS = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda s: s.encode("utf-8")),
    st.text(
        alphabet=st.characters(min_codepoint=0x80, exclude_categories=("Cs",)), min_size=1, max_size=400
    ).map(str.encode),
    st.sampled_from([FRAME - 1, FRAME, FRAME + 1, 2 * FRAME, 2 * FRAME + 1]).flatmap(_random_bytes),
    st.integers(65, 12_000).flatmap(_random_bytes),
    _random_bytes(64 * 1024),
)


@settings(
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plaintext=FIELDS, provider=st.sampled_from([b"FLEDemo", "Provider-é".encode()]))
def test_sdk_decrypts_thousands_of_random_fields(
    rsa_key: rsa.RSAPrivateKey, plaintext: bytes, provider: bytes
) -> None:
    message = esdk.encrypt(plaintext, esdk.FieldKey(rsa_key.public_key(), provider, b"DemoPublicKey"))
    decrypted, header = CLIENT.decrypt(source=message, key_provider=_master_key(rsa_key, provider))
    assert decrypted == plaintext
    assert header.algorithm.algorithm_id == esdk.SUITE_ID
