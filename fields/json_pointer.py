"""JSON-body field patterns: JSON Pointers (RFC 6901) whose segments may be a whole-segment `*` wildcard.

`/card/number` selects one value, `/travellers/*/passport` the passport of every traveller (array
elements and object members alike), `/payment/*` every member of `payment`. A pattern selects the value
at exactly its path, with everything beneath it. `~0` and `~1` escape `~` and `/` as in RFC 6901; a
segment that is exactly `*` is always the wildcard (a key named `*` can only be reached by it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_POINTER_LENGTH = 256  # characters of one pattern
MAX_POINTER_SEGMENTS = 32  # path depth of one pattern
_BAD_TILDE = re.compile(r"~(?![01])")

Path = tuple[str | int, ...]
"""Where a value sits in a document: object keys (str) and array indices (int), from the root."""


@dataclass(frozen=True, slots=True)
class JsonPointerPattern:
    """One JSON-body pattern; `segments` holds the unescaped keys, None where the pattern has `*`."""

    text: str
    segments: tuple[str | None, ...]

    def matches(self, path: Path) -> bool:
        """True when the value at `path` is the one this pattern selects (array indices match as decimals)."""
        if len(path) != len(self.segments):
            return False
        return all(
            want is None or want == (key if isinstance(key, str) else str(key))
            for want, key in zip(self.segments, path, strict=True)
        )

    def may_select_under(self, path: Path) -> bool:
        """True when this pattern could select `path` itself or a value beneath it."""
        if len(path) > len(self.segments):
            return False
        return all(
            want is None or want == (key if isinstance(key, str) else str(key))
            for want, key in zip(self.segments, path, strict=False)
        )

    def overlaps(self, other: JsonPointerPattern) -> bool:
        """True when some value would be protected by both: the same value, or one beneath the other."""
        return all(
            a is None or b is None or a == b for a, b in zip(self.segments, other.segments, strict=False)
        )


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def parse_pointer_pattern(text: object) -> JsonPointerPattern:
    """Parse one pattern that starts with `/`; ValueError says what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a field pattern must be a string, not {type(text).__name__}")
    if not text.startswith("/"):
        raise ValueError(f"JSON pointer pattern {text!r} must start with '/'")
    if len(text) > MAX_POINTER_LENGTH:
        raise ValueError(f"a JSON pointer pattern may have at most {MAX_POINTER_LENGTH} characters")
    if _BAD_TILDE.search(text):
        raise ValueError(f"JSON pointer pattern {text!r}: '~' must be followed by 0 or 1 (RFC 6901)")
    raw = text[1:].split("/")
    if len(raw) > MAX_POINTER_SEGMENTS:
        raise ValueError(f"a JSON pointer pattern may have at most {MAX_POINTER_SEGMENTS} segments")
    segments = tuple(None if s == "*" else _unescape(s) for s in raw)
    return JsonPointerPattern(text=text, segments=segments)


def is_pointer_pattern(text: object) -> bool:
    """True for text written as a JSON pointer (CloudFront field-name patterns never contain `/`)."""
    return isinstance(text, str) and text.startswith("/")
