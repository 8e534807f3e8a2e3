"""The AWS Encryption SDK's algorithm suites: wire id <-> what the id means, as one Enum.

Every suite the ESDK specification defines is here (the decryptor's policy may name any of them), each
with the facts a reader or writer of the message format needs: the message format version that carries
it, the AES-GCM key length, the key derivation (none, or HKDF with a hash), key commitment, and the
footer signature's curve. The ids are written the way the specification writes them (`0x0178`).
"""

from __future__ import annotations

import enum
import struct

from cryptography.hazmat.primitives import hashes


class Suite(enum.IntEnum):
    """An ESDK algorithm suite; the value is the 2-byte wire id (an int, so it compares with bare ids)."""

    AES_128_GCM_IV12_TAG16 = 0x0014
    AES_192_GCM_IV12_TAG16 = 0x0046
    AES_256_GCM_IV12_TAG16 = 0x0078
    AES_128_GCM_IV12_TAG16_HKDF_SHA256 = 0x0114
    AES_192_GCM_IV12_TAG16_HKDF_SHA256 = 0x0146
    AES_256_GCM_IV12_TAG16_HKDF_SHA256 = 0x0178  # what CloudFront writes, and the edge by default
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 = 0x0214
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0346
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0378
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY = 0x0478  # format v2, key commitment, no signature
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 = 0x0578

    @property
    def hex_id(self) -> str:
        """`0x0178`, the way the ESDK specification writes suite ids."""
        return suite_name(self)

    @property
    def wire(self) -> bytes:
        """The id as it is written in a header (2 bytes, big-endian)."""
        return struct.pack(">H", self)

    @property
    def message_version(self) -> int:
        """The message format version that carries this suite (2 for the committing suites)."""
        return 2 if self.committing else 1

    @property
    def key_length(self) -> int:
        """AES-GCM key length in bytes."""
        return _KEY_LENGTH[(self >> 4) & 0xF]

    @property
    def kdf(self) -> hashes.HashAlgorithm | None:
        """The HKDF hash deriving the content key from the data key; None when the data key is used as is."""
        factory = _KDF[self.value >> 8]
        return factory() if factory is not None else None

    @property
    def committing(self) -> bool:
        """True when the header carries a key commitment (format v2)."""
        return self.value >> 8 in (0x04, 0x05)

    @property
    def signature_curve(self) -> str | None:
        """The footer's ECDSA curve ("P-256", "P-384"), or None for unsigned suites."""
        return _CURVE.get(self.value >> 8)

    @property
    def signed(self) -> bool:
        return self.signature_curve is not None


_KEY_LENGTH = {0x1: 16, 0x4: 24, 0x7: 32}  # the id's third hex digit
_KDF: dict[int, type[hashes.HashAlgorithm] | None] = {
    0x00: None,
    0x01: hashes.SHA256,
    0x02: hashes.SHA256,
    0x03: hashes.SHA384,
    0x04: hashes.SHA512,
    0x05: hashes.SHA512,
}
_CURVE = {0x02: "P-256", 0x03: "P-384", 0x05: "P-384"}


def suite_name(suite_id: int) -> str:
    """`0x0178` for any 16-bit id, known or not (audit lines and refusals name unknown ids too)."""
    return f"0x{suite_id:04X}"


def parse_suite(text: str) -> Suite:
    """The Suite a hex id such as "0x0178" names; ValueError saying what is known otherwise."""
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError(f"algorithm suite {text!r} is not a hex id such as 0x0178") from None
    try:
        return Suite(value)
    except ValueError:
        known = ", ".join(s.hex_id for s in Suite)
        raise ValueError(f"unknown algorithm suite {text!r}; known: {known}") from None
