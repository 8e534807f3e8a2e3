"""The AWS Database Encryption SDK *standard beacon*, exactly as its specification defines it.

specification/searchable-encryption/search-config.md, "HMAC Key Generation": each beacon's HMAC key is
HKDF-SHA512 of the beacon key (our index root key), no salt, info = b"AWS_DBE_SCAN_BEACON" + the beacon
name in UTF-8, 64 bytes. beacons.md, "basicHash": HMAC-SHA384 of the input bytes, keep the first 8 bytes,
return the rightmost `length` bits as hexadecimal, ceil(length / 4) characters. "string hash": the input
is the string's UTF-8 encoding.

Pure functions: no I/O, no key storage (that is blindindex.keys).
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_BITS = 1
MAX_BITS = 63  # beacons.md "Beacon Length": an integer between 1 and 63 inclusive
INFO_PREFIX = b"AWS_DBE_SCAN_BEACON"
INDEX_KEY_BYTES = 64  # HKDF's expectedLength
ROOT_KEY_BYTES = 32  # what `fle index keys create` writes (the specification takes any length)
HMAC_PREFIX_BYTES = 8  # basicHash keeps the first 8 bytes of the HMAC-SHA384


def check_bits(bits: object) -> int:
    """`bits` itself when it is an integer from 1 to 63; TypeError / ValueError otherwise."""
    if not isinstance(bits, int) or isinstance(bits, bool):
        raise TypeError(f"a beacon length must be an integer, not {type(bits).__name__}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"a beacon length must be {MIN_BITS} to {MAX_BITS} bits, not {bits}")
    return bits


def hex_length(bits: int) -> int:
    """How many hex characters a beacon of `bits` bits has: ceil(bits / 4)."""
    return (check_bits(bits) + 3) // 4


def derive_index_key(root_key: bytes, index_name: str) -> bytes:
    """The index's 64-byte HMAC key: HKDF-SHA512(root_key, no salt, "AWS_DBE_SCAN_BEACON" + index_name)."""
    if not root_key:
        raise ValueError("the root key is empty")
    info = INFO_PREFIX + index_name.encode("utf-8")
    return HKDF(algorithm=hashes.SHA512(), length=INDEX_KEY_BYTES, salt=None, info=info).derive(root_key)


def truncate(mac: bytes, bits: int) -> str:
    """basicHash's last steps: the rightmost `bits` bits of the MAC's first 8 bytes, as lowercase hex."""
    if len(mac) < HMAC_PREFIX_BYTES:
        raise ValueError(f"a MAC of {len(mac)} bytes is shorter than the {HMAC_PREFIX_BYTES} bytes kept")
    width = hex_length(bits)
    value = int.from_bytes(mac[:HMAC_PREFIX_BYTES], "big") & ((1 << bits) - 1)
    return format(value, f"0{width}x")


def basic_hash(index_key: bytes, bits: int, data: bytes) -> str:
    """basicHash: HMAC-SHA384(index_key, data), truncated to `bits` bits, as hex."""
    return truncate(hmac.digest(index_key, data, "sha384"), bits)


def standard_beacon(index_key: bytes, bits: int, value: str) -> str:
    """The standard beacon of a (normalized) string: basicHash of its UTF-8 bytes under the index key."""
    return basic_hash(index_key, bits, value.encode("utf-8"))
