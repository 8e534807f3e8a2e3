"""The ESDK message format, pure: suite ids, header serialise and parse, "is this a message".

No keys, no network, stdlib and `cryptography` only; the edge (which writes messages), the origin (which
recognises them) and the decryptor (which reads headers before it unwraps anything) all import it, and
tests/security/test_boundaries.py checks that it imports nothing of ours.
"""

from .detect import MIN_LENGTH, is_message
from .errors import FormatError, MalformedHeader, TooManyDataKeys
from .header import (
    COMMITMENT_LENGTH,
    IV_LENGTH,
    TAG_LENGTH,
    EncryptedDataKey,
    Header,
    HeaderPrefix,
    HeaderReader,
    KeyRef,
    OneKeyHeader,
    encode_data_keys,
    parse_header,
    read_prefix,
    serialize_header,
)
from .suites import Suite, parse_suite, suite_name

__all__ = [
    "COMMITMENT_LENGTH",
    "IV_LENGTH",
    "MIN_LENGTH",
    "TAG_LENGTH",
    "EncryptedDataKey",
    "FormatError",
    "Header",
    "HeaderPrefix",
    "HeaderReader",
    "KeyRef",
    "MalformedHeader",
    "OneKeyHeader",
    "Suite",
    "TooManyDataKeys",
    "encode_data_keys",
    "is_message",
    "parse_header",
    "parse_suite",
    "read_prefix",
    "serialize_header",
    "suite_name",
]
