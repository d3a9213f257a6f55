"""QueryContext: a decoded query plus where it came from and how it travelled.

Pure: no I/O. The client network (ECS or source address) is worked out only when an
answer depends on it, so static answers never parse the source address.
"""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass

from geodns.dns.edns import CLIENT_PREFIX_CAP, ECS_FAMILY_VERSION, FAMILY_BITS
from geodns.dns.wire import Query


class Transport(enum.Enum):
    UDP = "udp"
    TCP = "tcp"


MAX_TCP_MESSAGE = 65535  # RFC 7766 §8: the two-byte length prefix bounds a TCP message
NO_EDNS_UDP_LIMIT = 512  # RFC 1035 §4.2.1


@dataclass(frozen=True, slots=True)
class ClientNetwork:
    """The network an answer is chosen for: IP version (4/6), masked address, known prefix."""

    family: int
    address: int
    source_prefix: int


@dataclass(frozen=True, slots=True)
class QueryContext:
    query: Query
    source: str  # the packet's source address as the socket gave it
    transport: Transport
    reserve: int = 0  # bytes the send-time options (COOKIE, NSID) add: kept free

    @property
    def size_limit(self) -> int:
        if self.transport is Transport.TCP:
            return MAX_TCP_MESSAGE - self.reserve
        edns = self.query.edns
        return (NO_EDNS_UDP_LIMIT if edns is None else edns.udp_limit) - self.reserve

    def client_network(self) -> ClientNetwork:
        """ECS when the query carried it (RFC 7871 §7.1.2), else the source address.

        The ECS source prefix is capped at /24 and /56 (RFC 7871 §11.1); source
        prefix 0 means the resolver withholds the client: no client information.
        """
        edns = self.query.edns
        ecs = edns.client_subnet if edns is not None else None
        if ecs is not None:
            family = ECS_FAMILY_VERSION[ecs.family]
            bits = FAMILY_BITS[ecs.family]
            prefix = min(ecs.source_prefix, CLIENT_PREFIX_CAP[family])
            address = ecs.address_int() >> (bits - prefix) << (bits - prefix) if prefix else 0
            return ClientNetwork(family, address, prefix)
        return source_network(self.source)


def source_network(source: str) -> ClientNetwork:
    """The packet's source address as a /32 or /128 client network."""
    if ":" in source:
        host = source.split("%", 1)[0]
        packed = socket.inet_pton(socket.AF_INET6, host)
        if packed[:12] == b"\x00" * 10 + b"\xff\xff":  # IPv4-mapped: the client is IPv4
            return ClientNetwork(4, int.from_bytes(packed[12:], "big"), 32)
        return ClientNetwork(6, int.from_bytes(packed, "big"), 128)
    return ClientNetwork(4, int.from_bytes(socket.inet_aton(source), "big"), 32)
