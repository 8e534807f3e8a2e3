"""Rewrite a multipart/form-data body (RFC 7578): encrypt the parts a profile names, keep every other byte.

A part is named by its `Content-Disposition: form-data; name="..."`, matched with the profile's
CloudFront field-name patterns as sent, and also as any origin framework could read it (`names.py`:
case-insensitive, `phone[]`, percent- or RFC 2047-decoded, ...). A matching part's
whole content is replaced by the base64 text of one message holding the content bytes as sent: no
charset conversion (the decrypted bytes are in whatever charset the client used) and no transfer
decoding. Text parts may hold `Limits.max_field_bytes`; file parts (those with a `filename`) up to
`MAX_PROTECTED_FILE_BYTES`. The boundary, every delimiter and every part header are kept byte for byte,
including the protected part's own `Content-Type`, which then describes the plaintext, not the base64.

Refused with 400, before anything is encrypted, whenever parsers could disagree on what the body holds
(the grammar: docs/security.md): a Content-Type outside the strict grammar (`content_type.py`,
`multipart_head.boundary_of`), a preamble or an epilogue other than one CRLF, a delimiter not followed by
CRLF or `--`, no close delimiter, part headers outside the strict grammar (`multipart_head.py`), and ANY
occurrence of the delimiter text `--boundary` that is not at the very start of the body or right after
CRLF: Werkzeug and PHP take a delimiter after a bare LF (some after a bare CR) where a CRLF-only reader
sees part content. The streaming rewriter releases no byte before it knows that no such occurrence
starts there.

`MultipartRewriter` works on chunks, so unprotected parts can be streamed; `rewrite` feeds it a whole body.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .limits import FieldBudget, Limits, too_many_fields
from .multipart_head import PartHead, boundary_of, malformed, parse_head
from .names import tag_for
from .selection import Rewritten, Selection, Selects, Transform, selection_of

__all__ = [
    "MAX_HEAD_BYTES",
    "MAX_PROTECTED_FILE_BYTES",
    "MultipartRewriter",
    "boundary_of",
    "rewrite",
]

MAX_PROTECTED_FILE_BYTES = 1024 * 1024  # content bytes of one protected file part
MAX_HEAD_BYTES = 16 * 1024  # bytes of one part's headers
Tag = TypeVar("Tag")


class MultipartRewriter(Generic[Tag]):
    """Rewrites a multipart/form-data body incrementally: `feed` chunks as they arrive, then `close`.

    Each call returns the bytes that may be sent on: unprotected content as soon as it is known not to be
    part of a delimiter, a protected part (headers and content) only once it is complete and encrypted.
    Any RequestRefused leaves the rewriter unusable; bytes already returned were checked and hold no
    protected plaintext.
    """

    def __init__(
        self,
        content_type: str,
        selection: Selection[Tag] | Selects[Tag],
        transform: Transform[Tag],
        limits: Limits,
    ) -> None:
        self._delimiter = b"--" + boundary_of(content_type)
        self._separator = b"\r\n" + self._delimiter
        self._names = selection_of(selection).names
        self._transform = transform
        self._limits = limits
        self._buffer = bytearray()
        self._state = "start"  # start -> after -> (head -> content -> after)* -> end
        self._parts = 0
        self._head_scanned = 0  # bytes of the buffer already searched for the end of a part's headers
        self._budget = FieldBudget(limits)
        self._held_head = b""  # a protected part's header bytes, sent with its ciphertext
        self._held: bytearray | None = None  # a protected part's content, None for an unprotected part
        self._held_tag: Tag | None = None
        self._held_limit = 0

    @property
    def encrypted(self) -> int:
        """How many protected parts this body has had so far."""
        return self._budget.used

    def feed(self, chunk: bytes) -> bytes:
        """Take the next bytes of the body; return the rewritten bytes that may be sent now."""
        self._buffer += chunk
        out = bytearray()
        while self._step(out):
            pass
        return bytes(out)

    def close(self) -> bytes:
        """The body has ended: return the last bytes, or refuse an incomplete body."""
        if self._state != "end":
            raise malformed("the body has no close delimiter")
        rest = bytes(self._buffer)
        if rest not in (b"", b"\r\n"):
            raise malformed("nothing but CRLF may follow the close delimiter")
        return rest

    def _step(self, out: bytearray) -> bool:
        buffer = self._buffer
        if self._state == "start":
            size = len(self._delimiter)
            if not self._delimiter.startswith(bytes(buffer[:size])):
                raise malformed("the body must start with the boundary (no preamble)")
            if len(buffer) < size:
                return False
            out += buffer[:size]
            del buffer[:size]
            self._state = "after"
            return True
        if self._state == "after":  # right after a delimiter: CRLF and a part, or -- and the end
            if len(buffer) < 2:
                return False
            if bytes(buffer[:2]) not in (b"\r\n", b"--"):
                raise malformed("a boundary delimiter must be followed by CRLF or --")
            self._state = "head" if buffer[:2] == b"\r\n" else "end"
            out += buffer[:2]
            del buffer[:2]
            return True
        if self._state == "head":
            return self._head(out)
        if self._state == "content":
            return self._content(out)
        if len(buffer) > 2 or not b"\r\n".startswith(bytes(buffer)):  # "end": only CRLF may follow
            raise malformed("nothing but CRLF may follow the close delimiter")
        return False

    def _head(self, out: bytearray) -> bool:
        buffer = self._buffer
        if buffer[:2] == b"\r\n":
            raise malformed("a part has no headers")
        # Each byte looked at once, and no further than a head may reach (a whole body is fed at once).
        end = buffer.find(b"\r\n\r\n", max(0, self._head_scanned - 3), MAX_HEAD_BYTES + 4)
        if end < 0:
            if len(buffer) >= MAX_HEAD_BYTES + 4:
                raise malformed(f"a part's headers are longer than {MAX_HEAD_BYTES} bytes")
            self._head_scanned = len(buffer)
            return False
        self._head_scanned = 0
        head = bytes(buffer[: end + 4])
        if self._delimiter in head:
            raise malformed("the boundary delimiter appears inside a part's headers")
        del buffer[: end + 4]
        self._parts += 1
        if self._parts > self._limits.max_fields:
            raise too_many_fields(self._limits)
        part = parse_head(head[:end])
        tag = tag_for(self._names, part.name)
        if tag is None:
            out += head
        else:
            self._protect(part, tag, head)
        self._state = "content"
        return True

    def _protect(self, part: PartHead, tag: Tag, head: bytes) -> None:
        self._budget.count()
        self._held_head = head
        self._held = bytearray()
        self._held_tag = tag
        self._held_limit = MAX_PROTECTED_FILE_BYTES if part.is_file else self._limits.max_field_bytes

    def _content(self, out: bytearray) -> bool:
        """Release content up to the next delimiter; refuse a delimiter text not right after CRLF.

        The search is for the delimiter text itself (`--boundary`), not for CRLF + delimiter: an
        occurrence after a bare LF or CR, or anywhere else inside content, is where Werkzeug or PHP would
        start a new part. Without an occurrence in sight, the last len(delimiter) + 1 bytes are kept back:
        they could begin an occurrence, or be the CR LF (or what stands there instead) before one.
        """
        buffer = self._buffer
        found = buffer.find(self._delimiter)
        if found < 0:
            size = max(0, len(buffer) - len(self._delimiter) - 1)
        elif found < 2 or buffer[found - 2 : found] != b"\r\n":
            # found < 2: at the start of the content (right after the blank line), or, had bytes before it
            # been released, an occurrence the previous call would have seen whole: refused either way.
            raise malformed("the boundary delimiter appears inside a part, not right after CRLF")
        else:
            size = found - 2
        if self._held is None:
            out += buffer[:size]
        else:
            self._held += buffer[:size]
            self._budget.length(len(self._held), self._held_limit, "part")
        del buffer[:size]
        if found < 0:
            return False
        if self._held is not None:
            assert self._held_tag is not None
            out += self._held_head
            self._write(out, self._transform(bytes(self._held), self._held_tag))
            self._held = None
        out += self._separator
        del buffer[: len(self._separator)]
        self._state = "after"
        return True

    def _write(self, out: bytearray, result: bytes | Rewritten) -> None:
        """A protected part's new content, then each sibling as a part of its own right after it."""
        if not isinstance(result, Rewritten):
            out += result
            return
        out += result.value
        for name, value in result.siblings:
            if '"' in name or "\r" in name or "\n" in name or "\\" in name:
                raise ValueError("a sibling part's name must not hold a quote, a backslash, CR or LF")
            if self._delimiter in value or value.endswith(b"\r"):
                raise ValueError("a sibling part's content holds the boundary delimiter")
            out += self._separator
            out += b'\r\nContent-Disposition: form-data; name="' + name.encode("utf-8") + b'"\r\n\r\n'
            out += value


def rewrite(
    body: bytes,
    content_type: str,
    selection: Selection[Tag] | Selects[Tag],
    transform: Transform[Tag],
    limits: Limits,
) -> tuple[bytes, int]:
    """The rewritten body and the number of parts transformed; RequestRefused when it must not pass."""
    rewriter = MultipartRewriter(content_type, selection, transform, limits)
    rewritten = rewriter.feed(body) + rewriter.close()
    return rewritten, rewriter.encrypted
