"""Bytes -> Query: the header, the one question and the OPT record, decoded by hand.

Pure: no I/O. Every overrun or violation raises a FormError leaf carrying what
could be read (the header, and the question once it parsed), so the caller can
answer FORMERR with the question echoed (RFC 1035 §4.1.1). Records in the answer
and authority sections are walked only to find the additional section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from geodns.dns import rdatatype
from geodns.dns.edns import (
    CLIENT_COOKIE_SIZE,
    FAMILY_BITS,
    OPTION_COOKIE,
    OPTION_ECS,
    OPTION_NSID,
    SERVER_COOKIE_MAX,
    SERVER_COOKIE_MIN,
    ClientSubnet,
    Edns,
)
from geodns.errors import GeodnsError

HEADER = struct.Struct("!HHHHHH")
TYPE_CLASS = struct.Struct("!HH")
RR_FIXED = struct.Struct("!HHIH")
OPTION_HEAD = struct.Struct("!HH")

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_CD = 0x0010
OPCODE_MASK = 0x7800


class FormError(GeodnsError):
    """The packet is not a well-formed query; answer FORMERR (RFC 1035 §4.1.1)."""

    def __init__(
        self, reason: str, header: tuple[int, int] | None = None, question: bytes | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header  # (id, flags) when the header was readable
        self.question = question  # the raw question section when it parsed
        # the query's OPT when the OPT record itself was well formed (only an option in it
        # was not): the FORMERR then carries an OPT too (RFC 6891 §7)
        self.edns: Edns | None = None


class ShortHeader(FormError):
    """Fewer than 12 bytes: there is no ID to answer to, so the packet is dropped."""


class NotAQuery(FormError):
    """QR is set: a response arriving at a server is dropped, never answered (RFC 8906 §3.1.1)."""


class BadName(FormError):
    """A name that overruns the packet, loops, or breaks RFC 1035 §2.3.4 limits."""


class Overrun(FormError):
    """A count or length that reaches past the end of the packet."""


class BadOpt(FormError):
    """An OPT record out of place, repeated, or with a malformed option (RFC 6891 §6.1.1)."""


class BadClientSubnet(BadOpt):
    """An ECS option that breaks RFC 7871 §6 (family, prefix or address bits)."""


class BadCookie(BadOpt):
    """A COOKIE option of a length RFC 7873 §5.2.2 calls malformed, or a second one."""


class NoQuestion(FormError):
    """QDCOUNT 0 with records after the header, all well formed: FORMERR, unless its OPT
    holds a COOKIE (edns says), which RFC 7873 §5.4 makes a query for a server cookie."""


class TrailingData(FormError):
    """Bytes after the last record the header counts."""


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    flags: int  # the query's flag word, for opcode, RD and CD
    qname: bytes  # lowercase wire key
    qtype: int
    qclass: int
    question: bytes  # the question section as received: echoed byte for byte (0x20 case kept)
    qdcount: int
    edns: Edns | None

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE_MASK) >> 11


def decode_query(data: bytes) -> Query:
    """Decode a query packet; raise a FormError leaf on anything malformed."""
    if len(data) < 12:
        raise ShortHeader("packet shorter than the 12-byte header")
    qid, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    header = (qid, flags)
    if flags & FLAG_QR:
        raise NotAQuery("QR set", header)
    if qdcount != 1:
        # RFC 1035 §4.1.2 allows more in theory; no server answers them (RFC 9619)
        if qdcount == 0 and not (ancount or nscount or arcount) and len(data) == 12:
            raise FormError("no question", header)
        if qdcount == 0:
            raise no_question(data, header, ancount + nscount, arcount)
        raise FormError(f"QDCOUNT is {qdcount}, expected 1", header)
    try:
        qname, end = read_question_name(data, 12)
    except FormError as exc:
        exc.header = header
        raise
    if end + 4 > len(data):
        raise Overrun("question overruns the packet", header)
    qtype, qclass = TYPE_CLASS.unpack_from(data, end)
    end += 4
    question = data[12:end]
    edns = None
    if ancount or nscount or arcount:
        try:
            edns, end = read_records(data, end, ancount + nscount, arcount)
        except FormError as exc:
            exc.header, exc.question = header, question
            raise
    if end != len(data):
        raise TrailingData(f"{len(data) - end} bytes after the last record", header, question)
    return Query(qid, flags, qname.lower(), qtype, qclass, question, qdcount, edns)


def no_question(
    data: bytes, header: tuple[int, int], before_additional: int, additional: int
) -> FormError:
    """What a QDCOUNT 0 packet with records is: NoQuestion with its OPT when every record
    is well formed (RFC 7873 §5.4's query for a server cookie has one), else the leaf its
    records raise."""
    try:
        edns, end = read_records(data, 12, before_additional, additional)
    except FormError as exc:
        exc.header = header
        return exc
    if end != len(data):
        return TrailingData(f"{len(data) - end} bytes after the last record", header)
    error = NoQuestion("QDCOUNT is 0, expected 1", header)
    error.edns = edns
    return error


def read_question_name(data: bytes, offset: int) -> tuple[bytes, int]:
    """The question's name (uncompressed: nothing precedes it to point at)."""
    start = offset
    size = len(data)
    while True:
        if offset >= size:
            raise BadName("question name overruns the packet")
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length > 63:
            # 0xC0: a pointer can only point backwards, into the header here;
            # 0x40/0x80: extended label types, obsolete (RFC 6891 §5)
            raise BadName(f"label type 0x{length & 0xC0:02x} in the question name")
        offset += length + 1
        if offset - start > 255:
            raise BadName("question name longer than 255 bytes (RFC 1035 §2.3.4)")
    if offset - start > 255:
        raise BadName("question name longer than 255 bytes (RFC 1035 §2.3.4)")
    return data[start:offset], offset


def skip_name(data: bytes, offset: int) -> int:
    """Offset after a possibly compressed name; the whole name is walked through its
    pointers, so a loop, a forward jump or a name over 255 bytes in all is refused.

    Each pointer must point strictly backwards, and the name it points at must end
    before the pointer itself (RFC 1035 §4.1.4 only ever points at earlier names).
    """
    end = 0  # where the name ends in place: after its terminal zero or first pointer
    limit = len(data)  # where the part being read must end
    total = 0
    while True:
        if offset >= limit:
            raise BadName(
                "compressed name runs into what points at it" if end else "name overruns the packet"
            )
        length = data[offset]
        if length == 0:
            return end or offset + 1
        if length & 0xC0 == 0xC0:
            if offset + 2 > limit:
                raise BadName("compression pointer overruns the packet")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if target >= offset:
                raise BadName("compression pointer does not point backwards (loop)")
            end = end or offset + 2
            limit, offset = offset, target
            continue
        if length > 63:
            raise BadName(f"label type 0x{length & 0xC0:02x}")
        total += length + 1
        if total > 255:
            raise BadName("name longer than 255 bytes (RFC 1035 §2.3.4)")
        offset += length + 1


def read_records(
    data: bytes, offset: int, before_additional: int, additional: int
) -> tuple[Edns | None, int]:
    """Walk the answer, authority and additional sections; return the OPT, if any.

    A malformed Client Subnet or COOKIE option is raised only after every record was
    walked, with the OPT read without it, so that the FORMERR can carry an OPT (RFC 6891 §7).
    """
    edns: Edns | None = None
    bad_option: BadOpt | None = None
    size = len(data)
    for index in range(before_additional + additional):
        if offset >= size:
            raise Overrun("the header counts more records than the packet holds")
        name_start = offset
        offset = skip_name(data, offset)
        if offset + 10 > size:
            raise Overrun("record header overruns the packet")
        rtype, rclass, ttl, rdlength = RR_FIXED.unpack_from(data, offset)
        offset += 10
        if offset + rdlength > size:
            raise Overrun("RDATA overruns the packet")
        if rtype == rdatatype.OPT:
            if index < before_additional:
                raise BadOpt("OPT outside the additional section (RFC 6891 §6.1.1)")
            if edns is not None:
                raise BadOpt("more than one OPT record (RFC 6891 §6.1.1)")
            if data[name_start] != 0:
                raise BadOpt("OPT owner is not the root (RFC 6891 §6.1.2)")
            edns, bad_option = decode_opt(data, offset, rdlength, rclass, ttl)
        offset += rdlength
    if bad_option is not None:
        bad_option.edns = edns
        raise bad_option
    return edns, offset


def decode_opt(
    data: bytes, offset: int, rdlength: int, payload: int, ttl: int
) -> tuple[Edns, BadOpt | None]:
    """The OPT record's values; a malformed Client Subnet or COOKIE option is returned
    beside them (the Edns then has neither), any other malformation raises BadOpt."""
    end = offset + rdlength
    ecs: ClientSubnet | None = None
    bad_subnet: BadClientSubnet | None = None
    bad_cookie: BadCookie | None = None
    seen_subnet = False
    client_cookie: bytes | None = None
    server_cookie = b""
    nsid = False
    while offset < end:
        if offset + 4 > end:
            raise BadOpt("option header overruns the OPT RDATA (RFC 6891 §6.1.2)")
        code, length = OPTION_HEAD.unpack_from(data, offset)
        offset += 4
        if offset + length > end:
            raise BadOpt("option length overruns the OPT RDATA (RFC 6891 §6.1.2)")
        if code == OPTION_ECS:
            try:
                if seen_subnet:
                    raise BadClientSubnet("more than one Client Subnet option (RFC 7871 §7.2)")
                ecs = decode_client_subnet(data[offset : offset + length])
            except BadClientSubnet as exc:
                bad_subnet, ecs = bad_subnet or exc, None
            seen_subnet = True
        elif code == OPTION_COOKIE:
            if bad_cookie is None and client_cookie is not None:
                bad_cookie = BadCookie("more than one COOKIE option (RFC 7873 §5.2.2)")
            elif bad_cookie is None and not cookie_length_valid(length):
                bad_cookie = BadCookie(
                    f"COOKIE option of {length} bytes: a client cookie is 8, a server cookie "
                    "8 to 32 more (RFC 7873 §5.2.2)"
                )
            else:
                client_cookie = data[offset : offset + CLIENT_COOKIE_SIZE]
                server_cookie = data[offset + CLIENT_COOKIE_SIZE : offset + length]
        elif code == OPTION_NSID:
            nsid = True  # RFC 5001 §2.1: the payload of a query's NSID is empty; not read
        offset += length  # unknown options are ignored (RFC 6891 §6.1.2)
    edns = Edns(
        payload=payload,
        version=(ttl >> 16) & 0xFF,
        do=bool(ttl & 0x8000),
        ext_rcode=ttl >> 24,
        client_subnet=None if bad_subnet is not None else ecs,
        co=bool(ttl & 0x4000),
        client_cookie=None if bad_cookie is not None else client_cookie,
        server_cookie=b"" if bad_cookie is not None else server_cookie,
        nsid=nsid,
    )
    return edns, bad_subnet or bad_cookie


def cookie_length_valid(length: int) -> bool:
    """RFC 7873 §5.2.2: 8 (a client cookie) or 16 to 40 (and a server cookie of 8 to 32)."""
    server = length - CLIENT_COOKIE_SIZE
    return server == 0 or SERVER_COOKIE_MIN <= server <= SERVER_COOKIE_MAX


def decode_client_subnet(body: bytes) -> ClientSubnet:
    """RFC 7871 §6; every violation is FORMERR (RFC 7871 §7.1.1)."""
    if len(body) < 4:
        raise BadClientSubnet("Client Subnet option shorter than 4 bytes")
    family, source, scope = struct.unpack_from("!HBB", body)
    bits = FAMILY_BITS.get(family)
    if bits is None:
        raise BadClientSubnet(f"Client Subnet family {family} is neither 1 (IPv4) nor 2 (IPv6)")
    if source > bits:
        raise BadClientSubnet(f"Client Subnet source prefix /{source} is longer than the address")
    address = body[4:]
    if len(address) != (source + 7) // 8:
        raise BadClientSubnet(
            f"Client Subnet address is {len(address)} bytes, /{source} needs {(source + 7) // 8}"
        )
    if source % 8 and address[-1] & (0xFF >> (source % 8)):
        raise BadClientSubnet("Client Subnet address has bits set beyond the source prefix")
    if scope:
        # RFC 7871 §6: "In queries, it MUST be set to 0"; a query that sets it is malformed
        raise BadClientSubnet(f"Client Subnet scope prefix /{scope} in a query: it must be 0")
    return ClientSubnet(family, source, scope, address)


@dataclass(frozen=True, slots=True)
class SendTimeOptions:
    """What a query asks of the options a reply gets at send time (COOKIE, NSID), found
    without decoding it, and the query without them: the key its shared reply is kept by."""

    key: bytes  # the query after its ID, less its COOKIE and NSID options (OPT RDLEN fixed)
    client_cookie: bytes | None
    server_cookie: bytes
    nsid: bool


PLAIN_COUNTS = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # one question, the OPT record alone


def find_send_time_options(data: bytes) -> SendTimeOptions | None:
    """The COOKIE and NSID options of a plain query (one question, then only the OPT
    record); None when it has neither, or is not plain, or anything looks wrong: the full
    decoder (decode_query) then decides, as it does for every first sight."""
    size = len(data)
    if size < 28 or data[4:12] != PLAIN_COUNTS:
        return None
    offset = 12
    while True:  # the question name: labels only, as read_question_name requires
        if offset >= size:
            return None
        length = data[offset]
        if length == 0:
            break
        if length > 63:
            return None
        offset += length + 1
    opt = offset + 5  # after the root label, QTYPE and QCLASS
    if opt + 11 > size or data[opt : opt + 3] != b"\x00\x00\x29":
        return None
    start = opt + 11
    if start + int.from_bytes(data[opt + 9 : start], "big") != size:
        return None
    kept: list[bytes] = []
    client_cookie: bytes | None = None
    server_cookie = b""
    nsid = False
    offset = start
    while offset < size:
        if offset + 4 > size:
            return None
        code, length = OPTION_HEAD.unpack_from(data, offset)
        body = offset + 4
        end = body + length
        if end > size:
            return None
        if code == OPTION_COOKIE:
            if client_cookie is not None or not cookie_length_valid(length):
                return None
            client_cookie = data[body : body + CLIENT_COOKIE_SIZE]
            server_cookie = data[body + CLIENT_COOKIE_SIZE : end]
        elif code == OPTION_NSID:
            nsid = True
        else:
            kept.append(data[offset:end])
        offset = end
    if client_cookie is None and not nsid:
        return None
    options = b"".join(kept)
    key = data[2 : opt + 9] + len(options).to_bytes(2, "big") + options
    return SendTimeOptions(key, client_cookie, server_cookie, nsid)
