"""RFC 1982 serial number arithmetic for SOA serials: which of two serials is the later.

Pure: no I/O. Serials are 32-bit and wrap, so 1 follows 4294967295; two serials exactly
2**31 apart are neither earlier nor later (RFC 1982 §3.2 leaves it undefined).
"""

from __future__ import annotations

SERIAL_BITS = 32
_HALF = 1 << (SERIAL_BITS - 1)
_MODULUS = 1 << SERIAL_BITS


def compare_serials(a: int, b: int) -> int | None:
    """-1 when a is before b, 0 when equal, 1 when a is after b, None when undefined
    (RFC 1982 §3.2); a and b are 0 to 2**32 - 1."""
    if a == b:
        return 0
    distance = (b - a) % _MODULUS
    if distance == _HALF:
        return None
    return -1 if distance < _HALF else 1


def serial_went_backwards(before: int, after: int) -> bool:
    """Whether a zone reloaded from serial before to after is not newer, nor the same:
    secondaries and caches that compare serials (RFC 1996 §2.2) would ignore it."""
    return compare_serials(after, before) in (-1, None)
