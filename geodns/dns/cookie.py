"""Server cookies as RFC 9018 makes them: version 1, a timestamp, SipHash-2-4.

Pure: no I/O, no clock (the time is passed in). A server cookie is 16 bytes: VERSION (1),
RESERVED (3 zero bytes), TIMESTAMP (32-bit seconds, serial number arithmetic), HASH
(SipHash-2-4 over client cookie | version | reserved | timestamp | client address, keyed
with a 16-byte secret every node shares), so any node sharing the secret accepts a
cookie another one made (RFC 9018 §4.4).
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

from siphash24 import siphash24

SECRET_SIZE = 16  # SipHash-2-4's key
SERVER_COOKIE_SIZE = 16  # RFC 9018 §4.2
VERSION = 1  # RFC 9018 §4.1
VALID_BEFORE_S = 3600  # RFC 9018 §4.3: older than an hour is refused...
VALID_AHEAD_S = 300  # ...and so is more than five minutes in the future
PREFIX = struct.Struct("!B3xI")  # VERSION, RESERVED, TIMESTAMP


@dataclass(frozen=True, slots=True)
class CookieSecrets:
    """The secret new cookies are made with, and the one before it, still accepted until
    previous_until_s (seconds since the epoch) after a rotation."""

    current: bytes
    previous: bytes | None = None
    previous_until_s: float = 0.0

    def __repr__(self) -> str:  # secrets never reach logs
        return f"CookieSecrets(previous_until_s={self.previous_until_s})"


def make_server_cookie(secret: bytes, client_cookie: bytes, address: bytes, now_s: int) -> bytes:
    """The 16-byte server cookie for this client at now_s; address is the packed client
    address (4 bytes for IPv4, 16 for IPv6)."""
    prefix = PREFIX.pack(VERSION, now_s & 0xFFFFFFFF)
    digest: bytes = siphash24(client_cookie + prefix + address, key=secret).digest()
    return prefix + digest


def server_cookie_valid(
    secrets: CookieSecrets, client_cookie: bytes, server_cookie: bytes, address: bytes, now_s: int
) -> bool:
    """Whether server_cookie is one a node sharing secrets made for this client and
    client cookie, no more than an hour ago and no more than five minutes ahead."""
    if len(server_cookie) != SERVER_COOKIE_SIZE or server_cookie[0] != VERSION:
        return False
    timestamp = int.from_bytes(server_cookie[4:8], "big")
    age = (now_s - timestamp) & 0xFFFFFFFF  # RFC 1982 serial number arithmetic
    if age >= 1 << 31:
        age -= 1 << 32
    if not -VALID_AHEAD_S <= age <= VALID_BEFORE_S:
        return False
    data = client_cookie + server_cookie[:8] + address
    sent = server_cookie[8:]
    if hmac.compare_digest(siphash24(data, key=secrets.current).digest(), sent):
        return True
    previous = secrets.previous
    return (
        previous is not None
        and now_s <= secrets.previous_until_s
        and hmac.compare_digest(siphash24(data, key=previous).digest(), sent)
    )
