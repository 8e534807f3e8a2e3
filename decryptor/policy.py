"""What the decryptor accepts, checked on the message header before any key is unwrapped.

The header prefix (version, suite, message id, encryption context, encrypted data keys) is read by the
small parser below rather than aws-encryption-sdk's `internal.formatting.deserialize`: that module is not
public API, it reads the whole header and raises its own mix of errors, while the policy needs only the
prefix and must name exactly what it refuses (a suite, a count of data keys) before a backend is touched.
The SDK parses the full header again when it decrypts, and checks it (including the header's auth tag).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_encryption_sdk.identifiers import Algorithm

from .errors import DecryptError, DecryptorConfigError, PolicyRefused
from .wire import HeaderReader

CLOUDFRONT_SUITE = 0x0178  # AES-256-GCM, HKDF-SHA256, no signature: what CloudFront writes
COMMITTING_SUITES = (0x0478, 0x0578)  # message format v2, key commitment (unsigned / ECDSA P-384 signed)
DEFAULT_SUITES = frozenset({CLOUDFRONT_SUITE, *COMMITTING_SUITES})
DEFAULT_MAX_DATA_KEYS = 1
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024

CORRUPT = "message could not be decrypted (corrupt, tampered or wrong key)"  # one opaque reason

_KNOWN_SUITES = {suite.algorithm_id: suite for suite in Algorithm}
_MESSAGE_ID_LENGTH = {1: 16, 2: 32}


def suite_name(suite_id: int) -> str:
    """`0x0178`, the way the ESDK specification writes suite ids."""
    return f"0x{suite_id:04X}"


def parse_suites(text: str) -> frozenset[int]:
    """Suite ids from "0x0178,0x0478" (hex, as the ESDK spec writes them); DecryptorConfigError if unknown."""
    suites: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            suite = int(part, 16)
        except ValueError:
            raise DecryptorConfigError(f"algorithm suite {part!r} is not a hex id such as 0x0178") from None
        if suite not in _KNOWN_SUITES:
            known = ", ".join(suite_name(s) for s in sorted(_KNOWN_SUITES))
            raise DecryptorConfigError(f"unknown algorithm suite {part!r}; known: {known}")
        suites.add(suite)
    if not suites:
        raise DecryptorConfigError("at least one algorithm suite must be accepted")
    return frozenset(suites)


@dataclass(frozen=True, slots=True)
class DataKeyRef:
    """One encrypted data key as the header names it: the keystore entry it needs."""

    provider_id: str
    key_name: str


@dataclass(frozen=True, slots=True)
class HeaderSummary:
    """What the policy reads from a message header."""

    version: int
    suite: int
    data_keys: tuple[DataKeyRef, ...]


def _corrupt(detail: str) -> DecryptError:
    return DecryptError(CORRUPT, detail=detail)


def read_header(message: bytes, max_data_keys: int) -> HeaderSummary:
    """The version, suite and data keys of `message`; stops reading once the key count is over the limit."""
    reader = HeaderReader(message, lambda: _corrupt("header truncated"))
    version = reader.u8()
    if version == 1:
        if reader.u8() != 0x80:
            raise _corrupt("message type is not 0x80")
    elif version != 2:
        raise _corrupt(f"unknown message format version {version}")
    suite = reader.u16()
    reader.take(_MESSAGE_ID_LENGTH[version])
    reader.take(reader.u16())  # encryption context, not used by the policy
    count = reader.u16()
    if count == 0:
        raise _corrupt("no encrypted data keys")
    if count > max_data_keys:
        raise PolicyRefused(
            f"message has {count} encrypted data keys; at most {max_data_keys} accepted", suite=suite
        )
    keys = []
    for _ in range(count):
        provider_id = reader.field().decode("utf-8", errors="replace")
        key_name = reader.field().decode("utf-8", errors="replace")
        reader.field()  # the wrapped data key itself
        keys.append(DataKeyRef(provider_id, key_name))
    return HeaderSummary(version, suite, tuple(keys))


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

    def check(self, message: bytes) -> HeaderSummary:
        """The header of an acceptable message; PolicyRefused with the reason otherwise."""
        self.check_size(len(message))
        header = read_header(message, self.max_data_keys)
        if header.suite not in self.suites:
            accepted = ", ".join(suite_name(s) for s in sorted(self.suites))
            raise PolicyRefused(
                f"algorithm suite {suite_name(header.suite)} is not accepted (accepted: {accepted})",
                key=(header.data_keys[0].provider_id, header.data_keys[0].key_name),
                suite=header.suite,
            )
        return header
