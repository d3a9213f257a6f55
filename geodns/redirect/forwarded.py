"""Who the HTTP client is: the peer, or what trusted proxies say in Forwarded/X-Forwarded-For.

Pure: no I/O. A proxy's word counts only when the peer (and each hop after it) is in the
trusted list; the first untrusted hop, read from the right, is the client (RFC 7239 §7.4:
anything to its left could have been written by the client itself). Addresses are
(family, integer) pairs, as selection takes them: parsed with inet_pton, not ipaddress
objects, since this runs for every request behind a proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[int, int]  # (4 or 6, the address as an integer)
# (family, network address, mask) of each trusted network
Trusted = tuple[tuple[int, int, int], ...]
MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, IPv4-mapped IPv6 (RFC 4291 §2.5.5.2)


def trusted_networks(networks: Iterable[Network]) -> Trusted:
    return tuple((net.version, int(net.network_address), int(net.netmask)) for net in networks)


def parse_address(text: str) -> Address | None:
    """An address as a hop names it: 192.0.2.1, 192.0.2.1:80, [2001:db8::1]:80, 2001:db8::1;
    IPv4-mapped IPv6 becomes IPv4. None for "unknown", obfuscated names (RFC 7239 §6.3)
    and anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text.partition("%")[0]), "big")
    except (OSError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def format_address(address: Address) -> str:
    family, value = address
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def is_trusted(address: Address, trusted: Trusted) -> bool:
    family, value = address
    for f, net, mask in trusted:  # a loop, not any(): no generator per request
        if f == family and value & mask == net:
            return True
    return False


def forwarded_for(header: str) -> list[str]:
    """The for= values of a Forwarded header (RFC 7239 §4), left (client) to right; an
    element without for= gives "" (an unknown hop)."""
    hops: list[str] = []
    value = ""
    found = False
    i, n = 0, len(header)
    while i <= n:
        # one forwarded-pair per step: token "=" ( token / quoted-string ), up to ; or ,
        end = i
        while end < n and header[end] not in ";,=":
            end += 1
        name = header[i:end].strip().lower()
        i = end
        text = ""
        if i < n and header[i] == "=":
            i += 1
            while i < n and header[i] in " \t":
                i += 1
            if i < n and header[i] == '"':
                i += 1
                chars: list[str] = []
                while i < n and header[i] != '"':
                    if header[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(header[i])
                    i += 1
                i += 1
                text = "".join(chars)
                while i < n and header[i] not in ";,":
                    i += 1
            else:
                end = i
                while end < n and header[end] not in ";,":
                    end += 1
                text = header[i:end].strip()
                i = end
        if name == "for" and not found:
            value, found = text, True
        if i >= n or header[i] == ",":
            hops.append(value if found else "")
            value, found = "", False
        i += 1
    return hops


def client_address(
    peer: Address,
    trusted: Trusted,
    forwarded: str | None,
    x_forwarded_for: str | None,
) -> Address:
    """The client's address: the peer's, unless trusted proxies stand between.

    Forwarded wins over X-Forwarded-For when both are present. Walking the hops from the
    right, each trusted one passes the question on; an unreadable hop stops the walk at the
    last trusted address (a proxy's own address is a better guess than a forged one).
    """
    if not trusted or not is_trusted(peer, trusted):
        return peer
    return forwarded_client(peer, trusted, forwarded, x_forwarded_for)


def forwarded_client(
    peer: Address, trusted: Trusted, forwarded: str | None, x_forwarded_for: str | None
) -> Address:
    """client_address() for a peer known to be a trusted proxy."""
    if forwarded is not None:
        hops = forwarded_for(forwarded)
    elif x_forwarded_for is not None:
        hops = x_forwarded_for.split(",")
    else:
        return peer
    client = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return client
        client = address
        if not is_trusted(address, trusted):
            return address
    return client
