"""EDNS(0) OPT and Client Subnet values and their encoding (RFC 6891, RFC 7871).

Pure: no I/O. wire.py decodes the OPT record of a query into an Edns; answer/reply.py
asks encode_opt() for the reply's OPT record.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from geodns.dns import rdatatype

OPTION_ECS = 8
OUR_UDP_PAYLOAD = 1232  # the DNS flag day 2020 figure: fits common MTUs without fragmenting
FLAG_DO = 0x8000

FAMILY_BITS = {1: 32, 2: 128}  # RFC 7871 §6: ADDRESS FAMILY uses IANA numbers (1 IPv4, 2 IPv6)
ECS_FAMILY_VERSION = {1: 4, 2: 6}  # ECS family number -> IP version
# RFC 7871 §11.1: resolvers SHOULD NOT send more than /24 (IPv4) and /56 (IPv6). The most
# of a client's address geodns ever decides on, by IP version: ECS source prefixes are
# capped to it, sticky keys and GeoIP cache blocks are this wide.
CLIENT_PREFIX_CAP = {4: 24, 6: 56}


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

    @property
    def udp_limit(self) -> int:
        # RFC 6891 §6.2.5: values below 512 are treated as 512; we never send more than we offer
        return min(max(self.payload, 512), OUR_UDP_PAYLOAD)


def encode_opt(edns: Edns, ext_rcode: int, scope_prefix: int | None) -> bytes:
    """The reply's OPT RR: version 0, our payload size, DO copied, ECS echoed with its scope.

    Unknown options and flags of the query are not echoed (RFC 6891 §6.1.2, §6.1.4).
    """
    options = b""
    ecs = edns.client_subnet
    if ecs is not None:
        # RFC 7871 §7.2.1: echo FAMILY, SOURCE PREFIX-LENGTH and ADDRESS; set SCOPE PREFIX-LENGTH
        scope = 0 if scope_prefix is None else scope_prefix
        body = struct.pack("!HBB", ecs.family, ecs.source_prefix, scope) + ecs.address
        options = struct.pack("!HH", OPTION_ECS, len(body)) + body
    ttl = (ext_rcode << 24) | (FLAG_DO if edns.do else 0)
    return (
        b"\x00" + struct.pack("!HHIH", rdatatype.OPT, OUR_UDP_PAYLOAD, ttl, len(options)) + options
    )
