"""Decoding a raw RSA result on the host: EME-OAEP and EME-PKCS1-v1_5 (RFC 8017), without secret branches.

Used when a token can do the raw private operation (CKM_RSA_X_509) but not the padding we need (SoftHSM
2.6 has no OAEP with SHA-256). The private key stays in the token; only the padded block `em` reaches
the host, and this module must not leak through timing which check failed or where the separator was.

How: every byte of `em` is processed whatever its value; checks are folded into integer flags with
arithmetic (no `if` on secret data); the hash comparison uses `hmac.compare_digest`; there is exactly one
branch, at the end, on the combined verdict, and every failure raises the same opaque error.

Residual caveats (documented in docs/keystore.md): CPython integers and bytes slicing are not
constant-time primitives, so this is best effort against remote timing, not a guarantee against a local
attacker measuring cache or instruction timing; the length of the recovered message is revealed by the
final slice (for a data key it is public: 16, 24 or 32 bytes).
"""

from __future__ import annotations

import hashlib
import hmac

from .errors import UnwrapError
from .wrapping import Wrapping

_HASHES = {Wrapping.RSA_OAEP_SHA256_MGF1: "sha256", Wrapping.RSA_OAEP_SHA1_MGF1: "sha1"}


def _mgf1(seed: bytes, length: int, hash_name: str) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.new(hash_name, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _is_zero(value: int) -> int:
    """1 if 0 <= value < 256 is zero, else 0; arithmetic only."""
    return ((value - 1) >> 8) & 1


def _scan(block: bytes, want_one: bool) -> tuple[int, int, int]:
    """Over every byte: (separator found, its index, bad byte before it).

    OAEP: zeros then 0x01 (`want_one`); any other byte before the separator is bad.
    PKCS#1 v1.5: non-zero padding then 0x00; never bad before the separator.
    """
    found = 0
    index = 0
    bad = 0
    for i, byte in enumerate(block):
        zero = _is_zero(byte)
        sep = _is_zero(byte ^ 1) if want_one else zero
        first = sep & (found ^ 1)
        index |= i & -first
        if want_one:
            bad |= (found ^ 1) & (sep ^ 1) & (zero ^ 1)
        found |= sep
    return found, index, bad


def decode(em: bytes, modulus_bytes: int, wrapping: Wrapping) -> bytes:
    """The message inside the raw RSA result `em` (left-padded to the modulus length); UnwrapError if bad."""
    em = em.rjust(modulus_bytes, b"\x00")
    if len(em) != modulus_bytes:
        raise UnwrapError("the data key could not be unwrapped")
    if wrapping is Wrapping.RSA_PKCS1:
        return _decode_pkcs1(em)
    hash_name = _HASHES[wrapping]
    hlen = hashlib.new(hash_name).digest_size
    if modulus_bytes < 2 * hlen + 2:  # public: depends on the key size only
        raise UnwrapError("the data key could not be unwrapped")
    masked_seed, masked_db = em[1 : 1 + hlen], em[1 + hlen :]
    seed = _xor(masked_seed, _mgf1(masked_db, hlen, hash_name))
    db = _xor(masked_db, _mgf1(seed, len(masked_db), hash_name))
    label_ok = int(hmac.compare_digest(db[:hlen], hashlib.new(hash_name, b"").digest()))
    found, index, bad = _scan(db[hlen:], want_one=True)
    good = label_ok & _is_zero(em[0]) & found & (bad ^ 1)
    if not good:
        raise UnwrapError("the data key could not be unwrapped")
    return db[hlen + index + 1 :]


def _decode_pkcs1(em: bytes) -> bytes:
    """EME-PKCS1-v1_5: 0x00 0x02 PS(>= 8 non-zero) 0x00 M."""
    found, index, _ = _scan(em[2:], want_one=False)
    long_enough = ((index - 8) >> 64) & 1 ^ 1  # index >= 8, as arithmetic
    good = _is_zero(em[0]) & _is_zero(em[1] ^ 2) & found & long_enough
    if not good:
        raise UnwrapError("the data key could not be unwrapped")
    return em[2 + index + 1 :]
