"""NSEC rdata for online signing: type bitmaps, compact denial (RFC 9824) and covering NSEC.

Pure: no I/O. Names are lowercase uncompressed wire bytes. Nothing here reveals a
neighbouring name of the zone: compact denial's NSEC is owned by the query name and its
next name is the query name's immediate successor, and the NSEC that proves a wildcard
expansion's next closer name absent (RFC 4035 §3.1.3.3) spans that name and its (empty)
subtree only, from its immediate predecessor to its next sibling (RFC 4470 §3, RFC 4471
§3.1.2).
"""

from __future__ import annotations

from collections.abc import Iterable

from geodns.dns import rdatatype

MAX_NAME = 255  # RFC 1035 §2.3.4, in wire octets
MAX_LABEL = 63
_UPPER_A, _UPPER_Z = 0x41, 0x5A


def type_bitmap(types: Iterable[int]) -> bytes:
    """The Type Bit Maps field (RFC 4034 §4.1.2): windows in order, trailing zeros dropped."""
    windows: dict[int, bytearray] = {}
    for rtype in sorted(set(types)):
        window, low = divmod(rtype, 256)
        bits = windows.setdefault(window, bytearray(32))
        bits[low // 8] |= 0x80 >> (low % 8)
    out = bytearray()
    for window, bits in sorted(windows.items()):
        used = len(bits.rstrip(b"\x00"))
        out += bytes((window, used)) + bits[:used]
    return bytes(out)


def nsec_rdata(next_name: bytes, types: Iterable[int]) -> bytes:
    """An NSEC rdata; RRSIG and NSEC themselves are always in the bitmap (RFC 4034 §4.1.2)."""
    return next_name + type_bitmap({*types, rdatatype.RRSIG, rdatatype.NSEC})


def compact_denial(types: Iterable[int], *, exists: bool) -> frozenset[int]:
    """The types the NSEC at the query name lists (RFC 9824 §3): the name's own for NODATA
    (none for an empty non-terminal), NXNAME for a name that does not exist."""
    listed = {*types, rdatatype.RRSIG, rdatatype.NSEC}
    if not exists:
        listed.add(rdatatype.NXNAME)  # RFC 9824 §2: the name does not exist
    return frozenset(listed)


def _split(name: bytes) -> tuple[bytes, bytes]:
    """(leftmost label, parent) of a name that is not the root."""
    return name[1 : 1 + name[0]], name[1 + name[0] :]


def _with_label(label: bytes, parent: bytes) -> bytes:
    return bytes((len(label),)) + label + parent


def successor(name: bytes) -> bytes:
    """The name that immediately follows name in canonical order (RFC 4471 §3.1.2.1):
    its first child "\\000.name" when that fits in 255 octets, else next_sibling(name)."""
    if len(name) + 2 <= MAX_NAME:
        return b"\x01\x00" + name
    return next_sibling(name)


def next_sibling(name: bytes) -> bytes:
    """The first name after name and everything below it, in canonical order: the smallest
    name of the same depth or shallower that sorts after it. An NSEC from below a name to
    this covers the name and its whole subtree, and no ancestor of it: what the proof of
    a wildcard's next closer name needs (a validator finds the closest encloser from the
    names an NSEC shares with the query name, RFC 4035 §5.3.4)."""
    while name != b"\x00":
        label, parent = _split(name)
        if len(label) < MAX_LABEL and len(name) + 1 <= MAX_NAME:
            return _with_label(label + b"\x00", parent)  # the smallest longer label
        stripped = label.rstrip(b"\xff")
        if stripped:
            octet = stripped[-1] + 1
            if _UPPER_A <= octet <= _UPPER_Z:  # canonical form has no upper case: skip it
                octet = _UPPER_Z + 1
            return _with_label(stripped[:-1] + bytes((octet,)), parent)
        name = parent  # a label of only \255: the next name is after the parent's subtree
    raise ValueError("the root has no successor")


def _maximal_descendant(name: bytes) -> bytes:
    """The last name in canonical order at or below name: \\255 labels as deep as fits."""
    while MAX_NAME - len(name) >= 2:
        length = min(MAX_LABEL, MAX_NAME - len(name) - 1)
        name = _with_label(b"\xff" * length, name)
    return name


def predecessor(name: bytes) -> bytes:
    """The name that immediately precedes name in canonical order (RFC 4471 §3.1.2.2),
    for a name that is not the root. Names are compared lowercase, so a decremented octet
    never lands on an upper-case letter."""
    label, parent = _split(name)
    if label == b"\x00":
        return parent  # "\\000.parent" follows parent directly
    if label.endswith(b"\x00"):
        smaller = label[:-1]  # a proper prefix sorts first
    else:
        octet = label[-1] - 1
        if _UPPER_A <= octet <= _UPPER_Z:
            octet = _UPPER_A - 1
        room = min(MAX_LABEL, MAX_NAME - len(parent) - 1)
        smaller = (label[:-1] + bytes((octet,))).ljust(room, b"\xff")
    return _maximal_descendant(_with_label(smaller, parent))
