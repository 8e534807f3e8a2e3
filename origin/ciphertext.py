"""Tell whether a field value arrived as ciphertext: standard base64 of an AWS Encryption SDK message.

The origin never decrypts; it only recognises the shape, with the one check the decryptor uses too
(`esdk_format.is_message`: whole standard base64, a v1 or v2 header, a suite the ESDK defines), so it can
record which fields were protected on the way in.
"""

from __future__ import annotations

from esdk_format import MIN_LENGTH, is_message

__all__ = ["MIN_LENGTH", "encrypted_field_names", "is_message"]


def encrypted_field_names(fields: dict[str, str]) -> tuple[str, ...]:
    """The names of the fields whose values are ciphertext, in the order they arrived."""
    return tuple(name for name, value in fields.items() if is_message(value))
