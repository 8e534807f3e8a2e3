"""Control characters written as escapes, so that one log record is one line and shows what it holds.

A log line that quotes something from a request (a path, a provider id read from a ciphertext's header, a
reason's detail) must not be able to start a new line that reads as another record, move the cursor of
a terminal, or hide text behind a bidirectional override. `escape` writes every character Python does
not call printable (str.isprintable: C0 and C1 controls, DEL, format characters such as U+202E, line and
paragraph separators, non-ASCII spaces, unassigned code points) as `\\n`, `\\r`, `\\t`, `\\xNN`, `\\uNNNN`
or `\\UNNNNNNNN`; the common case (all printable) costs one C-level scan.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char.isprintable():
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str) -> str:
    """`text` on one line: every non-printable character escaped (newlines included)."""
    if text.isprintable():
        return text
    return "".join(map(_escaped, text))


def escape_lines(text: str) -> str:
    """Each line of `text` escaped, the line breaks kept (a traceback we rendered ourselves)."""
    return "\n".join(escape(line) for line in text.split("\n"))
