"""The canonical form and order of RRs (RFC 4034 §6) that signatures are computed over.

Pure: no I/O. Names are uncompressed wire bytes. Owner names in the data plane are
lowercase already; names inside rdata keep the zone file's case and are lowered here for
the types RFC 4034 §6.2 lists (as corrected by RFC 6840 §5.1: not NSEC's next name, and
RRSIG's signer name is lowered).
"""

from __future__ import annotations

import struct

CLASS_IN = 1

# type -> the layout of its rdata: "n" a domain name, "2"/"6"/"18" that many fixed octets,
# "s" a <character-string>; the rest of the rdata after the layout is left as it is
_NAME_LAYOUT: dict[int, str] = {
    2: "n",  # NS
    3: "n",  # MD
    4: "n",  # MF
    5: "n",  # CNAME
    6: "nn",  # SOA: mname rname (the 20 octets of numbers follow)
    7: "n",  # MB
    8: "n",  # MG
    9: "n",  # MR
    12: "n",  # PTR
    14: "nn",  # MINFO
    15: "2n",  # MX
    17: "nn",  # RP
    18: "2n",  # AFSDB
    21: "2n",  # RT
    24: "18n",  # SIG
    26: "2nn",  # PX
    30: "n",  # NXT
    33: "6n",  # SRV
    35: "4sssn",  # NAPTR
    36: "2n",  # KX
    39: "n",  # DNAME
    46: "18n",  # RRSIG: the signer's name
}

_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def lower_name(name: bytes) -> bytes:
    """An uncompressed wire name with ASCII letters folded (RFC 4343; length octets are < 64
    and so never letters)."""
    return name.translate(_LOWER)


def _name_end(rdata: bytes, offset: int) -> int:
    while True:
        length = rdata[offset]
        if length == 0:
            return offset + 1
        if length > 63:
            raise ValueError("compressed or extended label inside stored rdata")
        offset += length + 1


def canonical_rdata(rtype: int, rdata: bytes) -> bytes:
    """rdata with the names RFC 4034 §6.2 item 3 names lowered; other types unchanged."""
    layout = _NAME_LAYOUT.get(rtype)
    if layout is None:
        return rdata
    out = bytearray()
    offset = 0
    i = 0
    while i < len(layout):
        step = layout[i]
        if step == "n":
            end = _name_end(rdata, offset)
            out += lower_name(rdata[offset:end])
            offset = end
            i += 1
            continue
        if step == "s":
            end = offset + 1 + rdata[offset]
        else:  # a run of digits: that many octets
            j = i
            while j < len(layout) and layout[j].isdigit():
                j += 1
            end = offset + int(layout[i:j])
            i = j - 1
        out += rdata[offset:end]
        offset = end
        i += 1
    out += rdata[offset:]
    return bytes(out)


def label_count(owner: bytes) -> int:
    """The RRSIG Labels field for owner (RFC 4034 §3.1.3): the root is 0, a leading "*"
    does not count."""
    count, i = 0, 0
    while owner[i]:
        count += 1
        i += owner[i] + 1
    if owner.startswith(b"\x01*"):
        count -= 1
    return count


def canonical_rdatas(rtype: int, rdatas: tuple[bytes, ...] | list[bytes]) -> tuple[bytes, ...]:
    """The RRset's rdata in canonical form and order, duplicates removed (RFC 4034 §6.3)."""
    return tuple(sorted({canonical_rdata(rtype, r) for r in rdatas}))


def rrset_wire(owner: bytes, rtype: int, ttl: int, rdatas: tuple[bytes, ...]) -> bytes:
    """RR(1) | RR(2) | ... of RFC 4034 §3.1.8.1 for canonical, sorted rdatas."""
    head = lower_name(owner) + struct.pack("!HHI", rtype, CLASS_IN, ttl)
    return b"".join(head + struct.pack("!H", len(r)) + r for r in rdatas)


def _labels(name: bytes) -> list[bytes]:
    labels, i = [], 0
    while name[i]:
        labels.append(name[i + 1 : i + 1 + name[i]])
        i += name[i] + 1
    return labels


def canonical_key(name: bytes) -> tuple[bytes, ...]:
    """A sort key giving RFC 4034 §6.1 canonical name order (for a lowercase name)."""
    return tuple(reversed(_labels(lower_name(name))))
