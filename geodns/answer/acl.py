"""Who may ask: the dns_allow / dns_deny lists, and the network sets they are made of.

Pure: no I/O. Applied to the packet's source address before anything else is done with
it, on both data planes:

- a source in dns_deny is denied, whatever dns_allow says (deny wins);
- with dns_allow empty everyone else may ask; otherwise only sources inside it may;
- a denied query is answered REFUSED with Extended DNS Error 18 (Prohibited, RFC 8914
  §4.19; the EDE only when the query had EDNS), or dropped with dns_deny_action = drop.

The lists are CIDR networks (an address alone is its /32 or /128); an IPv4-mapped IPv6
source is matched as the IPv4 address it is. RRL's exempt list is a NetworkSet too.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable

from geodns.answer.context import ClientNetwork, source_network
from geodns.pools.compile import BITS

MAX_SOURCES = 65536  # remembered source address -> verdict lookups


class DenyAction(enum.Enum):
    REFUSE = "refuse"  # REFUSED + EDE 18
    DROP = "drop"  # no reply at all


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """'192.0.2.0/24', '2001:db8::/32' or an address alone; host bits are masked off.

    Raises ValueError naming the text when it is neither.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a CIDR network such as 192.0.2.0/24") from None


class NetworkSet:
    """A set of CIDR networks: whether a client address is inside any of them.

    A lookup costs one set membership test per distinct prefix length in the set.
    """

    __slots__ = ("_by_family", "networks")

    def __init__(self, networks: Iterable[str]) -> None:
        parsed = [parse_network(n) for n in networks]
        self.networks = tuple(str(n) for n in parsed)
        self._by_family: dict[int, list[tuple[int, frozenset[int]]]] = {}
        for family in (4, 6):
            lengths: dict[int, set[int]] = {}
            for network in parsed:
                if network.version == family:
                    shift = BITS[family] - network.prefixlen
                    lengths.setdefault(shift, set()).add(int(network.network_address) >> shift)
            self._by_family[family] = [(s, frozenset(v)) for s, v in sorted(lengths.items())]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def covers(self, network: ClientNetwork) -> bool:
        address = network.address
        for shift, prefixes in self._by_family[network.family]:
            if address >> shift in prefixes:
                return True
        return False


def packed_ranges(networks: NetworkSet) -> bytes:
    """The set as the native loop reads it (_native_defences.c netset_from_bytes): per
    range, the family (4 or 6) and its first and last address, 16 bytes each, big-endian;
    sorted and disjoint per family (overlapping networks collapsed into one)."""
    parsed = [parse_network(n) for n in networks.networks]
    out = bytearray()
    for family in (4, 6):
        mine = [n for n in parsed if n.version == family]
        collapsed = ipaddress.collapse_addresses(mine)  # type: ignore[type-var]
        ranges: list[list[int]] = []
        for network in collapsed:
            first, last = int(network.network_address), int(network.broadcast_address)
            if ranges and first == ranges[-1][1] + 1:
                ranges[-1][1] = last  # adjacent networks are one range
            else:
                ranges.append([first, last])
        for first, last in ranges:
            out += bytes((family,)) + first.to_bytes(16, "big") + last.to_bytes(16, "big")
    return bytes(out)


class AccessList:
    """dns_allow and dns_deny: permits(source) says whether that source may be answered."""

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self.allow = NetworkSet(allow)
        self.deny = NetworkSet(deny)
        self._seen: dict[str, bool] = {}

    def __bool__(self) -> bool:
        """False when the lists let everyone in: the query path then skips the check."""
        return bool(self.allow or self.deny)

    def permits(self, source: str) -> bool:
        """source: the packet's source address as the socket gave it."""
        verdict = self._seen.get(source)
        if verdict is None:
            network = source_network(source)
            verdict = not self.deny.covers(network) and (
                not self.allow or self.allow.covers(network)
            )
            if len(self._seen) >= MAX_SOURCES:
                self._seen.clear()
            self._seen[source] = verdict
        return verdict
