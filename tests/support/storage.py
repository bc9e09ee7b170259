"""A file made as it is read, for storage tests that measure memory: `GeneratedStream` yields
`size` bytes of a repeating pattern without ever holding them whole."""

from __future__ import annotations

import hashlib
import io
from typing import Any

MIB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """`size` bytes of a repeating pattern, made as they are read (never held whole)."""

    PATTERN = hashlib.sha256(b"pattern").digest() * 4099  # odd length: chunks differ

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.position)
        view = memoryview(buffer)
        done = 0
        while done < n:
            offset = (self.position + done) % len(self.PATTERN)
            part = self.PATTERN[offset : offset + n - done]
            view[done : done + len(part)] = part
            done += len(part)
        self.position += n
        return n
