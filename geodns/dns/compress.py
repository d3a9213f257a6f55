"""Name compression for one message (RFC 1035 §4.1.4).

Pure: no I/O. A Compressor remembers where each suffix of every name written so far
starts, case-insensitively (RFC 4343), and writes a new name as its unseen leading labels
followed by a pointer to the longest suffix already in the message. Pointers can only
reach the first 16 KiB (14 bits), so names written past that are not remembered.
"""

from __future__ import annotations

MAX_POINTER_TARGET = 0x3FFF


class Compressor:
    """The compression table of one message being written front to back."""

    __slots__ = ("_offsets",)

    def __init__(self) -> None:
        self._offsets: dict[bytes, int] = {}

    def remember(self, name: bytes, offset: int) -> None:
        """A name already written in full at offset (the question, for example)."""
        self.encode(name, offset)

    def encode(self, name: bytes, offset: int) -> bytes:
        """The bytes that write name (uncompressed wire form, any case) at offset."""
        offsets = self._offsets
        lower = name.lower()
        i = 0
        while name[i]:
            known = offsets.get(lower[i:])
            if known is not None:
                return name[:i] + bytes((0xC0 | known >> 8, known & 0xFF))
            if offset + i <= MAX_POINTER_TARGET:
                offsets[lower[i:]] = offset + i
            i += name[i] + 1
        return name

    def __contains__(self, name: bytes) -> bool:
        return name.lower() in self._offsets

    def offset_of(self, name: bytes) -> int | None:
        """Where name (as a whole) was written, if it was and a pointer can reach it."""
        return self._offsets.get(name.lower())
