"""EDNS(0) OPT, Client Subnet, Extended DNS Error, COOKIE and NSID values and their
encoding (RFC 6891, RFC 7871, RFC 8914, RFC 7873, RFC 5001).

Pure: no I/O. wire.py decodes the OPT record of a query into an Edns; answer/reply.py
asks encode_opt() for the reply's OPT record, with an ExtendedError when the Answer
carries one. COOKIE and NSID are added to a compiled reply's OPT at send time
(answer/options.py), so one compiled reply serves every client.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from geodns.dns import rdatatype

OPTION_NSID = 3  # RFC 5001 §2.3
OPTION_ECS = 8
OPTION_COOKIE = 10  # RFC 7873 §4
CLIENT_COOKIE_SIZE = 8  # RFC 7873 §4: exactly 8 bytes
SERVER_COOKIE_MIN, SERVER_COOKIE_MAX = 8, 32  # RFC 7873 §4: 8 to 32 bytes when present
OPTION_EDE = 15  # RFC 8914 §2
OUR_UDP_PAYLOAD = 1232  # the DNS flag day 2020 figure: fits common MTUs without fragmenting
FLAG_DO = 0x8000
FLAG_CO = 0x4000  # RFC 9824 §4: Compact Answers OK, the client takes NXDOMAIN back

FAMILY_BITS = {1: 32, 2: 128}  # RFC 7871 §6: ADDRESS FAMILY uses IANA numbers (1 IPv4, 2 IPv6)
ECS_FAMILY_VERSION = {1: 4, 2: 6}  # ECS family number -> IP version
# RFC 7871 §11.1: resolvers SHOULD NOT send more than /24 (IPv4) and /56 (IPv6). The most
# of a client's address geodns ever decides on, by IP version: ECS source prefixes are
# capped to it, sticky keys and GeoIP cache blocks are this wide.
CLIENT_PREFIX_CAP = {4: 24, 6: 56}


# RFC 8914 §4: the INFO-CODEs geodns sends
EDE_NOT_READY = 14  # §4.15: this node is not able to answer (a zone it cannot sign)
EDE_PROHIBITED = 18  # §4.19: the server refuses this client (an allow/deny list)
EDE_NOT_AUTHORITATIVE = 20  # §4.21: the name is in no zone served here (no recursion)
EDE_NOT_SUPPORTED = 21  # §4.22: the query asks for something this server does not do
EDE_INVALID_QUERY_TYPE = 30  # RFC 9824 §3.5: NXNAME asked for


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """An Extended DNS Error (RFC 8914 §2): an INFO-CODE and optional UTF-8 EXTRA-TEXT.

    It tells an operator why; it never changes the RCODE (§3), and it is only sent in
    a reply to a query that had an OPT record (RFC 6891 §7).
    """

    info_code: int
    extra_text: str = ""

    def encode(self) -> bytes:
        """The whole option: OPTION-CODE, OPTION-LENGTH, INFO-CODE, EXTRA-TEXT."""
        text = self.extra_text.encode("utf-8")  # §2: not NUL-terminated
        return struct.pack("!HHH", OPTION_EDE, 2 + len(text), self.info_code) + text


@dataclass(frozen=True, slots=True)
class ClientSubnet:
    """The ECS option of a query: family (1 or 2), prefixes and the address as sent."""

    family: int
    source_prefix: int
    scope_prefix: int
    address: bytes  # exactly ceil(source_prefix / 8) bytes, as on the wire

    def address_int(self) -> int:
        """The address as an integer of the family's full width (zero-padded)."""
        width = FAMILY_BITS[self.family] // 8
        return int.from_bytes(self.address.ljust(width, b"\x00"), "big")


@dataclass(frozen=True, slots=True)
class Edns:
    """The query's OPT record: what the reply must honour or echo."""

    payload: int  # requestor's UDP payload size (RFC 6891 §6.2.3)
    version: int
    do: bool  # DNSSEC OK, copied into the reply (RFC 3225 §3)
    ext_rcode: int
    client_subnet: ClientSubnet | None = None
    co: bool = False  # Compact Answers OK (RFC 9824 §4), copied into the reply
    client_cookie: bytes | None = None  # RFC 7873 §4: 8 bytes when the query had a COOKIE
    server_cookie: bytes = b""  # what the client sent back of ours (8 to 32 bytes), or b""
    nsid: bool = False  # RFC 5001 §2.1: the query asks for the server's identifier

    @property
    def udp_limit(self) -> int:
        # RFC 6891 §6.2.5: values below 512 are treated as 512; we never send more than we offer
        return min(max(self.payload, 512), OUR_UDP_PAYLOAD)


def encode_option(code: int, body: bytes) -> bytes:
    """One option: OPTION-CODE, OPTION-LENGTH, OPTION-DATA (RFC 6891 §6.1.2)."""
    return struct.pack("!HH", code, len(body)) + body


def encode_opt(
    edns: Edns, ext_rcode: int, scope_prefix: int | None, error: ExtendedError | None = None
) -> bytes:
    """The reply's OPT RR: version 0, our payload size, DO and CO copied, ECS echoed with
    its scope, and the Extended DNS Error when there is one.

    Unknown options and flags of the query are not echoed (RFC 6891 §6.1.2, §6.1.4).
    """
    options = b""
    ecs = edns.client_subnet
    if ecs is not None:
        # RFC 7871 §7.2.1: echo FAMILY, SOURCE PREFIX-LENGTH and ADDRESS; set SCOPE PREFIX-LENGTH
        scope = 0 if scope_prefix is None else scope_prefix
        body = struct.pack("!HBB", ecs.family, ecs.source_prefix, scope) + ecs.address
        options = struct.pack("!HH", OPTION_ECS, len(body)) + body
    if error is not None:
        options += error.encode()
    ttl = (ext_rcode << 24) | (FLAG_DO if edns.do else 0) | (FLAG_CO if edns.co else 0)
    return (
        b"\x00" + struct.pack("!HHIH", rdatatype.OPT, OUR_UDP_PAYLOAD, ttl, len(options)) + options
    )
