"""Host-side OAEP / PKCS#1 v1.5 decoding matches cryptography, and rejects every kind of bad block."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from keystore import UnwrapError, Wrapping
from keystore.oaep import decode


def raw_decrypt(key: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
    """The raw RSA private operation (what CKM_RSA_X_509 returns), done here for the test only."""
    numbers = key.private_numbers()
    k = (key.key_size + 7) // 8
    m = pow(int.from_bytes(ciphertext, "big"), numbers.d, numbers.public_numbers.n)
    return m.to_bytes(k, "big")


@pytest.mark.parametrize("wrapping", list(Wrapping))
@settings(max_examples=25, deadline=None)
@given(message=st.binary(min_size=0, max_size=64))
def test_decode_matches_cryptography(rsa_key: rsa.RSAPrivateKey, wrapping: Wrapping, message: bytes) -> None:
    ciphertext = rsa_key.public_key().encrypt(message, wrapping.padding())
    assert decode(raw_decrypt(rsa_key, ciphertext), 256, wrapping) == message


@pytest.mark.parametrize("wrapping", list(Wrapping))
def test_decode_rejects_tampered_blocks(rsa_key: rsa.RSAPrivateKey, wrapping: Wrapping) -> None:
    ciphertext = rsa_key.public_key().encrypt(b"k" * 32, wrapping.padding())
    em = raw_decrypt(rsa_key, ciphertext)
    for position in (0, 1, 2, 40, 100, 200, 255):
        bad = bytearray(em)
        bad[position] ^= 0x01
        if wrapping is Wrapping.RSA_PKCS1 and position >= 2:
            continue  # PKCS#1 v1.5 has no integrity over the message or padding bytes
        with pytest.raises(UnwrapError):
            decode(bytes(bad), 256, wrapping)
    with pytest.raises(UnwrapError):
        decode(b"\x00" * 256, 256, wrapping)
    with pytest.raises(UnwrapError):
        decode(em + b"\x00", 256, wrapping)


def test_wrong_hash_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    ciphertext = rsa_key.public_key().encrypt(b"k" * 32, Wrapping.RSA_OAEP_SHA1_MGF1.padding())
    with pytest.raises(UnwrapError):
        decode(raw_decrypt(rsa_key, ciphertext), 256, Wrapping.RSA_OAEP_SHA256_MGF1)


def test_pkcs1_short_padding_is_rejected() -> None:
    block = b"\x00\x02" + b"\x11" * 7 + b"\x00" + b"m" * 246  # only 7 padding bytes
    with pytest.raises(UnwrapError):
        decode(block, 256, Wrapping.RSA_PKCS1)
    ok = b"\x00\x02" + b"\x11" * 8 + b"\x00" + b"m" * 245
    assert decode(ok, 256, Wrapping.RSA_PKCS1) == b"m" * 245
