"""The standard beacon against the values the AWS Database Encryption SDK's own test suite publishes.

Source: github.com/aws/aws-database-encryption-sdk-dynamodb at commit
b69c6db7c40ea988d2d739b62a36038a6adb0629 (the test files' last change:
5c53d5983a90f93cf5d85d1399704eda0d16d63a):
- DynamoDbEncryption/dafny/DynamoDbEncryption/test/Beacon.dfy, `TestBeacon`: basicHash with HMAC key
  [1, 2] over bytes [1, 2, 3]: the first 8 HMAC bytes 27 93 93 8b 26 e9 52 7e, 8 bits -> "7e"; over the
  empty input the 8th byte is 0x80 ("80"); over "123" the 8th byte is 0x61.
- same file, `TestOneBeaconValue`, with `GetBeaconValue` (HKDF-SHA512 of the root key [1, 2, 3, 4, 5],
  no salt, info "AWS_DBE_SCAN_BEACON" + name, 64 bytes; HMAC-SHA384; first 8 bytes; BytesToHex(length))
  and the expected values from DynamoDbEncryption/dafny/DynamoDbEncryption/test/BeaconTestFixtures.dfy
  (std2_beacon "ac6f5d", Name_beacon "7d9bfa40", ...).
The specification: specification/searchable-encryption/beacons.md (basicHash, string hash) and
search-config.md (HMAC Key Generation).
"""

from __future__ import annotations

import hashlib
import hmac
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

import blindindex
from blindindex.beacon import basic_hash, check_bits, derive_index_key, hex_length, standard_beacon, truncate

ROOT = bytes([1, 2, 3, 4, 5])  # GetLiteralSource([1,2,3,4,5], ...) in the DB-ESDK tests


@pytest.mark.parametrize(
    ("name", "value", "bits", "expected"),
    [
        ("std2", "1.23", 24, "ac6f5d"),
        ("Name", "MyName", 32, "7d9bfa40"),
        ("Title", "MyTitle", 32, "e4feb833"),
        ("std4", "abc", 24, "0e9064"),
        ("std6", "666", 26, "2d99222"),  # 26 bits: 7 hex characters, the first holding 2 bits
        ("NameTitleField", "MyName__mytitle", 28, "4c577d7"),
        ("Name", "", 32, "e0e88994"),
        ("Title", "", 32, "af34f26f"),
    ],
)
def test_standard_beacon_matches_the_db_esdk_fixtures(
    name: str, value: str, bits: int, expected: str
) -> None:
    assert standard_beacon(derive_index_key(ROOT, name), bits, value) == expected


def test_basic_hash_matches_the_db_esdk_test_beacon() -> None:
    key = bytes([1, 2])
    assert hmac.digest(key, bytes([1, 2, 3]), "sha384")[:8] == bytes.fromhex("2793938b26e9527e")
    assert basic_hash(key, 8, bytes([1, 2, 3])) == "7e"
    assert basic_hash(key, 8, b"") == "80"
    assert basic_hash(key, 8, b"123") == "61"


def test_index_keys_differ_per_index_name() -> None:
    assert derive_index_key(ROOT, "phone") != derive_index_key(ROOT, "email")
    assert len(derive_index_key(ROOT, "phone")) == 64


@given(key=st.binary(min_size=1, max_size=64), data=st.binary(max_size=64), bits=st.integers(1, 63))
def test_basic_hash_is_the_rightmost_bits_of_first_eight_bytes(key: bytes, data: bytes, bits: int) -> None:
    """An independent reading with hashlib alone: the rightmost bits as a number, zero-padded hex."""
    first8 = hmac.new(key, data, hashlib.sha384).digest()[:8]
    number = int(first8.hex(), 16) % (2**bits)
    text = basic_hash(key, bits, data)
    assert len(text) == -(-bits // 4) and text == text.lower()
    assert int(text, 16) == number


@pytest.mark.parametrize(("bits", "width"), [(1, 1), (4, 1), (5, 2), (16, 4), (26, 7), (63, 16)])
def test_hex_length_is_bits_over_four_rounded_up(bits: int, width: int) -> None:
    assert hex_length(bits) == width


@pytest.mark.parametrize("bits", [0, 64, -1])
def test_lengths_outside_one_to_63_are_refused(bits: int) -> None:
    with pytest.raises(ValueError, match="1 to 63"):
        check_bits(bits)


@pytest.mark.parametrize("bits", [True, 16.0, "16"])
def test_lengths_that_are_not_integers_are_refused(bits: object) -> None:
    with pytest.raises(TypeError):
        check_bits(bits)


def test_a_short_mac_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter"):
        truncate(b"1234567", 8)


def test_the_exported_names_are_what_was_meant() -> None:
    exported = {
        name
        for name in dir(blindindex)
        if not name.startswith("_") and not isinstance(getattr(blindindex, name), types.ModuleType)
    }
    assert exported == set(blindindex.__all__)
