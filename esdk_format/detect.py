"""The one answer to "is this field value an ESDK message?", for the origin and the decryptor alike.

A value is a message when all of this holds (nothing is decrypted, no key is needed):

- it is at least `MIN_LENGTH` characters of standard base64, padded, whole (a stray character or a
  missing one anywhere, not only in the first few, means the value is not one message as written);
- the decoded bytes start as a header does: version 1 with type 0x80, or version 2;
- the suite id that follows is one the ESDK defines, and the version is the one that suite is carried in.

Before this module the origin and the decryptor each had a check, and they disagreed: the decryptor
decoded only the first 8 characters (so a value with broken base64 further on, a length not a multiple of
4, or non-ASCII text after the start passed), and neither looked at the suite (so any base64 text whose
first byte is 0x02, such as "Ag..." tokens, passed). See docs/architecture.md.
"""

from __future__ import annotations

import base64
import binascii

from .suites import Suite

MIN_LENGTH = 40  # characters: a version, a suite and a few header bytes at least
_KNOWN = frozenset(int(s) for s in Suite)
_COMMITTING = frozenset(int(s) for s in Suite if s.committing)


def is_message(value: object) -> bool:
    """True when `value` is text holding standard base64 of an ESDK message header (see module docstring)."""
    if not isinstance(value, str) or len(value) < MIN_LENGTH or len(value) % 4:
        return False
    try:
        head = base64.b64decode(value, validate=True)[:4]
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return False
    if head[:2] == b"\x01\x80":
        suite = int.from_bytes(head[2:4], "big")
        return suite in _KNOWN and suite not in _COMMITTING
    if head[:1] == b"\x02":
        return int.from_bytes(head[1:3], "big") in _COMMITTING
    return False
