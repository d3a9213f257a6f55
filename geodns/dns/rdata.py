"""Presentation-format RDATA (RFC 1035 §5.1, RFC 3597 §5) -> uncompressed wire RDATA.

Pure: no I/O. Values are checked here and packed with dnslib's rdata classes into a
buffer that never compresses, so the bytes can sit in any message at any offset.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dnslib
from dnslib.buffer import BufferError as DnslibBufferError
from dnslib.label import DNSBuffer, DNSLabel, DNSLabelError

from geodns.dns import names, rdatatype
from geodns.errors import GeodnsError

MAX_TTL = 2**31 - 1  # RFC 2181 §8
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TTL_PART = re.compile(r"(\d+)([smhdw])", re.IGNORECASE)
_TTL_UNITS_ONLY = re.compile(r"(\d+[smhdw])+", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_TYPE_NUMBER = re.compile(r"TYPE(\d+)", re.IGNORECASE)
_DNSLIB_ERRORS = (
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    struct.error,
    dnslib.DNSError,
    DNSLabelError,
    DnslibBufferError,
)


class RdataError(GeodnsError, ValueError):
    """RDATA text that cannot be built; the message says what would be right."""


@dataclass(frozen=True, slots=True)
class Token:
    """One presentation field: raw text (escapes kept) and whether it was quoted."""

    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Rdata:
    """Wire RDATA, plus the name additional-section processing follows (NS, MX, SRV)."""

    wire: bytes
    target: bytes | None = None  # lowercase wire key


_Builder = Callable[[Sequence[Token], bytes | None], Rdata]


def parse_ttl(text: str, maximum: int = MAX_TTL) -> int:
    """'3600', '1h30m', '1w' -> seconds; raises RdataError past maximum or on bad syntax."""
    if _DIGITS.fullmatch(text):
        value = int(text)
    elif _TTL_UNITS_ONLY.fullmatch(text):
        value = sum(int(n) * _TTL_UNITS[u.lower()] for n, u in _TTL_PART.findall(text))
    else:
        raise RdataError(
            f'bad TTL "{text}" (RFC 1035 §5.1; units s m h d w): write seconds or e.g. 1h30m'
        )
    if value > maximum:
        raise RdataError(f"TTL {value} is over {maximum} (RFC 2181 §8): use a smaller value")
    return value


def type_from_text(text: str) -> int:
    """'MX' or 'TYPE15' -> 15; raises RdataError for unknown names and meta types."""
    upper = text.upper()
    match = _TYPE_NUMBER.fullmatch(upper)
    rtype = int(match.group(1)) if match else dnslib.QTYPE.reverse.get(upper)
    if rtype is None:
        raise RdataError(
            f'unknown type "{text}": use a known type, or TYPEnnn with RFC 3597 \\# rdata'
        )
    if not 1 <= rtype <= 65535 or rtype == rdatatype.OPT or 128 <= rtype <= 255:
        raise RdataError(f"type {text} cannot be stored in a zone (RFC 6895 §3.1): remove it")
    return int(rtype)


def type_to_text(rtype: int) -> str:
    name = dnslib.QTYPE.forward.get(rtype)
    return str(name) if name is not None else f"TYPE{rtype}"


def unescape_string(text: str) -> bytes:
    """A <character-string> body with RFC 1035 §5.1 escapes (\\X, \\DDD) -> bytes."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            out.extend(ch.encode("utf-8"))
            i += 1
        elif i + 1 >= n:
            raise RdataError(f'trailing backslash in "{text}": escape it as \\\\')
        elif text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
            value = int(text[i + 1 : i + 4])
            if value > 255:
                raise RdataError(f"escape \\{value} is over 255 (RFC 1035 §5.1): use \\000-\\255")
            out.append(value)
            i += 4
        else:
            out.extend(text[i + 1].encode("utf-8"))
            i += 2
    return bytes(out)


class _FlatBuffer(DNSBuffer):  # type: ignore[misc]
    """A DNSBuffer that never compresses: stored RDATA must not point into a message."""

    def encode_name(self, name: DNSLabel) -> None:
        self.encode_name_nocompress(name)


def _pack(rd: dnslib.RD) -> bytes:
    buffer = _FlatBuffer()
    rd.pack(buffer)
    return bytes(buffer.data)


def _label(wire: bytes) -> DNSLabel:
    labels, i = [], 0
    while wire[i]:
        labels.append(wire[i + 1 : i + 1 + wire[i]])
        i += wire[i] + 1
    return DNSLabel(labels)


def _name(token: Token, origin: bytes | None) -> bytes:
    try:
        return names.from_text_preserving_case(token.text, origin)
    except names.NameTextError as exc:
        raise RdataError(f"bad name: {exc}") from None


def _number(token: Token, bits: int, what: str) -> int:
    limit = 2**bits - 1
    if not _DIGITS.fullmatch(token.text) or int(token.text) > limit:
        raise RdataError(f'bad {what} "{token.text}": write a whole number from 0 to {limit}')
    return int(token.text)


def _string(token: Token) -> bytes:
    value = unescape_string(token.text)
    if len(value) > 255:
        raise RdataError(
            f"string of {len(value)} bytes is over 255 (RFC 1035 §3.3): "
            "split it into several quoted strings"
        )
    return value


def _address(token: Token, version: int) -> bytes:
    try:
        if version == 4:
            return ipaddress.IPv4Address(token.text).packed
        return ipaddress.IPv6Address(token.text).packed
    except ValueError:
        example = "192.0.2.1" if version == 4 else "2001:db8::1"
        raise RdataError(
            f'"{token.text}" is not an IPv{version} address: write one like {example}'
        ) from None


def _a(f: Sequence[Token], origin: bytes | None) -> Rdata:
    return Rdata(_pack(dnslib.A(tuple(_address(f[0], 4)))))


def _aaaa(f: Sequence[Token], origin: bytes | None) -> Rdata:
    return Rdata(_pack(dnslib.AAAA(tuple(_address(f[0], 6)))))


def _single_name(cls: Callable[[DNSLabel], dnslib.RD], with_target: bool) -> _Builder:
    def build(f: Sequence[Token], origin: bytes | None) -> Rdata:
        name = _name(f[0], origin)
        return Rdata(_pack(cls(_label(name))), name.lower() if with_target else None)

    return build


def _soa(f: Sequence[Token], origin: bytes | None) -> Rdata:
    mname, rname = _label(_name(f[0], origin)), _label(_name(f[1], origin))
    try:
        times = [_number(f[2], 32, "serial")]
        times += [parse_ttl(t.text, 2**32 - 1) for t in f[3:7]]
    except RdataError as exc:
        raise RdataError(f"SOA timers: {exc}") from None
    return Rdata(_pack(dnslib.SOA(mname, rname, times)))


def _mx(f: Sequence[Token], origin: bytes | None) -> Rdata:
    preference, exchange = _number(f[0], 16, "preference"), _name(f[1], origin)
    target = None if exchange == names.ROOT else exchange.lower()  # RFC 7505 null MX
    return Rdata(_pack(dnslib.MX(_label(exchange), preference)), target)


def _txt(f: Sequence[Token], origin: bytes | None) -> Rdata:
    return Rdata(_pack(dnslib.TXT([_string(t) for t in f])))


def _srv(f: Sequence[Token], origin: bytes | None) -> Rdata:
    priority, weight, port = (
        _number(f[i], 16, w) for i, w in enumerate(("priority", "weight", "port"))
    )
    target = _name(f[3], origin)
    rd = dnslib.SRV(priority, weight, port, _label(target))
    return Rdata(_pack(rd), None if target == names.ROOT else target.lower())


def _caa(f: Sequence[Token], origin: bytes | None) -> Rdata:
    flags, tag = _number(f[0], 8, "flags"), f[1].text
    if not tag.isascii() or not tag.isalnum() or len(tag) > 255:
        raise RdataError(f'tag "{tag}" must be letters and digits (RFC 8659 §4.1)')
    # built here, not by dnslib.CAA, which packs str values and so cannot carry \DDD bytes
    value = unescape_string(f[2].text)
    return Rdata(bytes([flags, len(tag)]) + tag.encode("ascii") + value)


# type -> (field names, builder); None means "one or more"
_SHAPES: dict[int, tuple[tuple[str, ...] | None, _Builder]] = {
    rdatatype.A: (("address",), _a),
    rdatatype.NS: (("nsdname",), _single_name(dnslib.NS, True)),
    rdatatype.CNAME: (("cname",), _single_name(dnslib.CNAME, False)),
    rdatatype.SOA: (("mname", "rname", "serial", "refresh", "retry", "expire", "minimum"), _soa),
    rdatatype.PTR: (("ptrdname",), _single_name(dnslib.PTR, False)),
    rdatatype.MX: (("preference", "exchange"), _mx),
    rdatatype.TXT: (None, _txt),
    rdatatype.AAAA: (("address",), _aaaa),
    rdatatype.SRV: (("priority", "weight", "port", "target"), _srv),
    rdatatype.DNAME: (("target",), _single_name(dnslib.DNAME, False)),
    rdatatype.SPF: (None, _txt),  # SPF has TXT's format (RFC 7208 §3.1)
    rdatatype.CAA: (("flags", "tag", "value"), _caa),
}
# where NS, MX and SRV rdata hold their target name
_TARGET_OFFSETS = {rdatatype.NS: 0, rdatatype.MX: 2, rdatatype.SRV: 6}
_STRING_TYPES = frozenset({rdatatype.TXT, rdatatype.SPF, rdatatype.CAA})  # may be quoted


def build_rdata(rtype: int, fields: Sequence[Token], origin: bytes | None) -> Rdata:
    """Presentation fields -> wire RDATA; origin (case kept) completes relative names."""
    if fields and fields[0].text == "\\#" and not fields[0].quoted:
        return _generic(rtype, fields[1:])
    shape = _SHAPES.get(rtype)
    if shape is None:
        return _by_dnslib(type_to_text(rtype), fields, origin)
    field_names, build = shape
    if field_names is None and not fields:
        raise RdataError("needs at least one string: add a quoted string")
    if field_names is not None and len(fields) != len(field_names):
        raise RdataError(
            f"needs {len(field_names)} field{'s' if len(field_names) > 1 else ''} "
            f"({' '.join(field_names)}), got {len(fields)}"
        )
    if rtype not in _STRING_TYPES and any(t.quoted for t in fields):
        raise RdataError("takes no quoted strings: remove the quotes")
    return build(fields, origin)


def _by_dnslib(tname: str, fields: Sequence[Token], origin: bytes | None) -> Rdata:
    rd_class = dnslib.RDMAP.get(tname)
    if rd_class is None:
        raise RdataError(
            "has no presentation-format parser here: "
            "write it as RFC 3597 generic rdata (\\# length hex)"
        )
    try:
        rd = rd_class.fromZone([t.text for t in fields], _label(origin or names.ROOT))
        return Rdata(_pack(rd))
    except _DNSLIB_ERRORS as exc:
        raise RdataError(f"cannot read the rdata: {exc}") from None


def _generic(rtype: int, fields: Sequence[Token]) -> Rdata:
    """RFC 3597 §5: \\# <length> <hex>...; a known type's data must also be valid for it."""
    if not fields or not _DIGITS.fullmatch(fields[0].text):
        raise RdataError("generic rdata needs a length: \\# 4 0a000001 (RFC 3597 §5)")
    length, digits = int(fields[0].text), "".join(t.text for t in fields[1:])
    try:
        wire = bytes.fromhex(digits)
    except ValueError:
        raise RdataError(f'generic rdata "{digits}" is not hexadecimal (RFC 3597 §5)') from None
    if len(wire) != length:
        raise RdataError(f"generic rdata has {len(wire)} bytes but says {length} (RFC 3597 §5)")
    rd_class = dnslib.RDMAP.get(type_to_text(rtype))
    if rd_class is None or rtype == rdatatype.CAA:
        return Rdata(wire)
    try:  # parse as the known type and pack again: the bytes must survive unchanged
        rd = rd_class.parse(DNSBuffer(wire), len(wire))
        same = _pack(rd) == wire
    except _DNSLIB_ERRORS:
        same = False
    if not same:
        raise RdataError(f"generic rdata is not valid {type_to_text(rtype)} data (RFC 3597 §5)")
    offset = _TARGET_OFFSETS.get(rtype)
    if offset is None or wire[offset:] == names.ROOT:
        return Rdata(wire)
    return Rdata(wire, wire[offset:].lower())  # re-packed unchanged: an uncompressed name
