"""Field-name patterns as CloudFront defines them: an exact name, or a prefix ending in one `*`."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PATTERN_LENGTH = 128  # characters, CloudFront's documented limit
_PATTERN_RE = re.compile(r"[A-Za-z0-9\[\]._-]+\*?|\*")


@dataclass(frozen=True, slots=True)
class FieldPattern:
    """One field-name pattern; `prefix` is the text before a trailing `*` (or the whole exact name)."""

    text: str
    prefix: str
    wildcard: bool

    def matches(self, name: str) -> bool:
        """True when `name` (already percent-decoded) is selected by this pattern; case-sensitive."""
        return name.startswith(self.prefix) if self.wildcard else name == self.prefix

    def overlaps(self, other: FieldPattern) -> bool:
        """True when some field name would be selected by both patterns."""
        if self.wildcard and other.wildcard:
            return self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        if self.wildcard:
            return other.prefix.startswith(self.prefix)
        if other.wildcard:
            return self.prefix.startswith(other.prefix)
        return self.prefix == other.prefix


def parse_pattern(text: object) -> FieldPattern:
    """Parse one pattern; ValueError says what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a field pattern must be a string, not {type(text).__name__}")
    if not text:
        raise ValueError("a field pattern must not be empty")
    if len(text) > MAX_PATTERN_LENGTH:
        raise ValueError(f"a field pattern may have at most {MAX_PATTERN_LENGTH} characters")
    if not _PATTERN_RE.fullmatch(text):
        raise ValueError(
            f"field pattern {text!r} may contain only letters, digits and [ ] . _ - "
            "with an optional single trailing *"
        )
    wildcard = text.endswith("*")
    return FieldPattern(text=text, prefix=text[:-1] if wildcard else text, wildcard=wildcard)
