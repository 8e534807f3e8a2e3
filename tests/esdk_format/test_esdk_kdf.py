"""The encoders' key derivations against cryptography's HKDF: the precomputed hash states (esdk) and the
shared extract (esdk_v2) must give the same keys for every data key and message id."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from edge_proxy.encrypting import esdk, esdk_v2


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16))
def test_v1_key_is_hkdf_sha256_without_salt(data_key: bytes, message_id: bytes) -> None:
    info = esdk.SUITE_ID.wire + message_id
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)
    assert esdk.hkdf_sha256_no_salt(data_key, info) == expected


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_v2_keys_are_hkdf_sha512_with_the_message_id_as_salt(data_key: bytes, message_id: bytes) -> None:
    def hkdf(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA512(), length=32, salt=message_id, info=info).derive(data_key)

    commitment, derived = esdk_v2._hkdf_pair(data_key, message_id)
    assert commitment == hkdf(b"COMMITKEY")
    assert derived == hkdf(esdk_v2.SUITE_ID.wire + b"DERIVEKEY")
    assert commitment != derived
