"""What the decryptor accepts, checked on the message header before any key is unwrapped.

The header prefix (version, suite, message id, encryption context, encrypted data keys) is read by the
message-format package (`esdk_format.read_prefix`) rather than aws-encryption-sdk's
`internal.formatting.deserialize`: that module is not public API, it reads the whole header and raises
its own mix of errors, while the policy needs only the prefix and must name exactly what it refuses (a
suite, a count of data keys) before a backend is touched. The SDK parses the full header again when it
decrypts, and checks it (including the header's auth tag).
"""

from __future__ import annotations

from dataclasses import dataclass

from esdk_format import (
    HeaderPrefix,
    MalformedHeader,
    Suite,
    TooManyDataKeys,
    parse_suite,
    read_prefix,
    suite_name,
)

from .errors import DecryptError, DecryptorConfigError, PolicyRefused
from .reasons import Reason

CLOUDFRONT_SUITE = Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256  # what CloudFront writes
COMMITTING_SUITES = tuple(s for s in Suite if s.committing)  # message format v2, key commitment
DEFAULT_SUITES = frozenset({CLOUDFRONT_SUITE, *COMMITTING_SUITES})
DEFAULT_MAX_DATA_KEYS = 1
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024

CORRUPT = "message could not be decrypted (corrupt, tampered or wrong key)"  # one opaque reason


def parse_suites(text: str) -> frozenset[int]:
    """Suite ids from "0x0178,0x0478" (hex, as the ESDK spec writes them); DecryptorConfigError if unknown."""
    suites: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            suites.add(parse_suite(part))
        except ValueError as e:
            raise DecryptorConfigError(str(e)) from None
    if not suites:
        raise DecryptorConfigError("at least one algorithm suite must be accepted")
    return frozenset(suites)


def read_header(message: bytes, max_data_keys: int) -> HeaderPrefix:
    """The version, suite and data keys of `message`; stops reading once the key count is over the limit."""
    try:
        return read_prefix(message, max_data_keys)
    except TooManyDataKeys as e:
        raise PolicyRefused(str(e), suite=e.suite) from None
    except MalformedHeader as e:
        raise DecryptError(Reason.DECRYPT_FAILED, CORRUPT, detail=str(e)) from None


@dataclass(frozen=True, slots=True)
class Policy:
    """Accepted algorithm suites, most encrypted data keys per message, largest message (decoded bytes)."""

    suites: frozenset[int] = DEFAULT_SUITES
    max_data_keys: int = DEFAULT_MAX_DATA_KEYS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if self.max_data_keys < 1:
            raise DecryptorConfigError("the most encrypted data keys per message must be at least 1")
        if self.max_message_bytes < 64:
            raise DecryptorConfigError("the largest message accepted must be at least 64 bytes")
        parse_suites(",".join(suite_name(s) for s in self.suites))  # rejects unknown ids

    def check_size(self, size: int) -> None:
        if size > self.max_message_bytes:
            raise PolicyRefused(f"message is {size} bytes; at most {self.max_message_bytes} accepted")

    def check(self, message: bytes) -> HeaderPrefix:
        """The header of an acceptable message; PolicyRefused with the reason otherwise."""
        self.check_size(len(message))
        header = read_header(message, self.max_data_keys)
        if header.suite not in self.suites:
            accepted = ", ".join(suite_name(s) for s in sorted(self.suites))
            first = header.data_keys[0].ref
            raise PolicyRefused(
                f"algorithm suite {suite_name(header.suite)} is not accepted (accepted: {accepted})",
                key=(first.provider_id, first.key_name),
                suite=header.suite,
            )
        return header
