"""What every family reader of a field name shares: the path it returns and two bracket scans.

`ANY` stands for an array position chosen by the parser; a path is a tuple of keys. The scans are two
memchr-speed finds in the common case, and walk nested bracket groups for WINDOW characters at most.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ANY = None  # an array position the parser picks (push, or an index qs compacts)
Key = str | None
Path = tuple[Key, ...]
Reader = Callable[[str, int], "list[Path]"]

_BRACKET = re.compile(r"[\[\]]")  # single characters: a search is one linear scan, no backtracking
_NOT_BRACKET = re.compile(r"[^\[\]]")
_NOT_CLOSE = re.compile(r"[^\]]")
WINDOW = 256  # > the longest pattern key; a bracket group not balanced within it cannot equal one


class Unreadable(ValueError):
    """A name one family reads in a way this module does not model; the caller refuses the request."""


def _next_bracket(name: str, start: int) -> int:
    """Index of the first `[` or `]` at or after start (len(name) if none): two memchr-speed finds."""
    opening = name.find("[", start)
    closing = name.find("]", start, opening if opening >= 0 else len(name))
    return closing if closing >= 0 else opening if opening >= 0 else len(name)


def _balanced_close(name: str, open_: int) -> int:
    """Index of the `]` that closes the `[` at `open_` (nested groups count), -1 if none, -2 if not in WINDOW.

    The common case (no `[` before the first `]`) is two C-speed finds; only nested groups are walked, and
    only for WINDOW characters, because a longer group can never equal a pattern key (its start, which is
    all a wildcard compares, is known without its end).
    """
    close = name.find("]", open_ + 1)
    inner = name.find("[", open_ + 1, close if close >= 0 else len(name))
    if inner < 0:
        return close
    level = 1
    stop = min(len(name), open_ + 1 + WINDOW)
    for i in range(open_ + 1, stop):
        char = name[i]
        if char == "[":
            level += 1
        elif char == "]":
            level -= 1
            if level == 0:
                return i
    return -2 if stop < len(name) else -1
