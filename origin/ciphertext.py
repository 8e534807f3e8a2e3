"""Tell whether a field value arrived as ciphertext: standard base64 of an AWS Encryption SDK message.

The origin never decrypts; it only recognises the shape (message format v1: bytes 01 80, as CloudFront
and our edge write it; or v2: byte 02) so it can record which fields were protected on the way in.
"""

from __future__ import annotations

import base64
import binascii

MIN_LENGTH = 40  # characters: a version, a suite and a few header bytes at least


def looks_like_ciphertext(value: str) -> bool:
    if len(value) < MIN_LENGTH or len(value) % 4:
        return False
    try:
        head = base64.b64decode(value, validate=True)[:2]
    except (binascii.Error, ValueError):
        return False
    return head == b"\x01\x80" or head[:1] == b"\x02"


def encrypted_field_names(fields: dict[str, str]) -> tuple[str, ...]:
    """The names of the fields whose values are ciphertext, in the order they arrived."""
    return tuple(name for name, value in fields.items() if looks_like_ciphertext(value))
