"""Reading the big-endian, length-prefixed fields of an AWS Encryption SDK message header."""

from __future__ import annotations

import struct
from collections.abc import Callable


class HeaderReader:
    """A cursor over message bytes; running past the end raises the error `truncated()` makes."""

    def __init__(self, data: bytes, truncated: Callable[[], Exception]) -> None:
        self.data = data
        self.at = 0
        self._truncated = truncated

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise self._truncated()
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def field(self) -> bytes:
        """A uint16 length, then that many bytes."""
        return self.take(self.u16())
