"""Shared by the JSON and multipart tests: profiles built in code and a reversible stand-in cipher."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.hazmat.primitives.asymmetric import rsa

from fields.json_pointer import is_pointer_pattern, parse_pointer_pattern
from fields.patterns import parse_pattern
from profiles import EncryptionEntity, Profile, PublicKey

MARK = b"\xfb\xff\xfe"


@cache
def _public_key() -> PublicKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return PublicKey(id="K1", name="DemoPublicKey", key=key, encoded_key="")


def profile(*patterns: str, suite: int = 0x0178) -> Profile:
    """A one-entity profile with `patterns` (JSON pointers or field names, as the loader reads them)."""
    parsed = tuple(parse_pointer_pattern(p) if is_pointer_pattern(p) else parse_pattern(p) for p in patterns)
    entity = EncryptionEntity(public_key=_public_key(), provider_id="FLEDemo", patterns=parsed)
    return Profile(id="P1", name="test", entities=(entity,), algorithm_suite=suite)


def stand_in_encrypt(value: bytes, entity: EncryptionEntity) -> bytes:
    """A reversible stand-in cipher for pure rewriting tests (the real one is proven end to end)."""
    return base64.b64encode(MARK + value)


def stand_in_decrypt(text: str | bytes) -> bytes:
    raw = base64.b64decode(text, validate=True)
    assert raw.startswith(MARK)
    return raw[len(MARK) :]
