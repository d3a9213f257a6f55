"""The EDNS options a reply gets at send time: COOKIE (RFC 7873, server cookies as RFC
9018) and NSID (RFC 5001).

Pure: no I/O, no awaits (the clock is read). A compiled reply is shared by every client
that asks the same question, so it never holds a per-client cookie: the COOKIE option,
with a fresh server cookie for this client, and NSID when asked, are appended to the
reply's OPT record (the last record of every reply geodns makes) as it is sent, and the
OPT's RDLENGTH is fixed. The cookie secrets come with the snapshot (from the store,
shared by every node); a snapshot without them (no store read yet) gets no cookies.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from geodns.dns.cookie import (
    SERVER_COOKIE_SIZE,
    CookieSecrets,
    make_server_cookie,
    server_cookie_valid,
)
from geodns.dns.edns import CLIENT_COOKIE_SIZE, OPTION_COOKIE, OPTION_NSID, encode_option

COOKIE_OPTION_SIZE = 4 + CLIENT_COOKIE_SIZE + SERVER_COOKIE_SIZE  # what a cookie adds: 28


@dataclass(frozen=True, slots=True)
class Asked:
    """What one query asks of the send-time options, and what it was found to carry."""

    client_cookie: bytes | None
    server_cookie_valid: bool  # the query carried a server cookie a node made for it
    nsid: bool
    reserve: int  # bytes the options will add: what the compiled reply must leave free


@dataclass(frozen=True, slots=True)
class ReplyOptions:
    """This server's send-time options: cookies on or off, whether a UDP client must
    return a valid server cookie, and the NSID payload (None: not sent)."""

    cookies: bool = True
    require_server_cookie: bool = False
    nsid: bytes | None = None
    clock: Callable[[], float] = time.time

    def asked(
        self,
        client_cookie: bytes | None,
        server_cookie: bytes,
        nsid: bool,
        source: str,
        secrets: CookieSecrets | None,
    ) -> Asked | None:
        """What the reply must get, or None when it gets nothing at send time."""
        nsid = nsid and self.nsid is not None
        if not self.cookies or secrets is None:
            client_cookie = None
        if client_cookie is None and not nsid:
            return None
        valid = False
        reserve = 4 + len(self.nsid) if nsid and self.nsid is not None else 0
        if client_cookie is not None:
            reserve += COOKIE_OPTION_SIZE
            if server_cookie and secrets is not None:
                valid = server_cookie_valid(
                    secrets, client_cookie, server_cookie, packed(source), int(self.clock())
                )
        return Asked(client_cookie, valid, nsid, reserve)

    def refuses(self, asked: Asked | None, udp: bool) -> bool:
        """RFC 7873 §5.2.3, §5.2.4: with require_server_cookie, a UDP query carrying a
        client cookie but no valid server cookie is answered BADCOOKIE (TCP never is: the
        handshake already proves the address). A query without a COOKIE option is answered
        as if cookies did not exist (§5.2.1), as BIND and Knot do: only an OPT can carry
        BADCOOKIE, and TC or REFUSED would turn away every resolver that sends none."""
        return (
            self.require_server_cookie
            and udp
            and asked is not None
            and asked.client_cookie is not None
            and not asked.server_cookie_valid
        )

    def append(
        self, reply: bytes, opt_rdata: int, asked: Asked, source: str, secrets: CookieSecrets | None
    ) -> bytes:
        """reply with NSID (when asked) and a fresh COOKIE appended to its OPT record, whose
        RDATA is the last opt_rdata bytes of reply (-1: no OPT; reply is returned as is)."""
        if opt_rdata < 0:
            return reply
        options = b""
        if asked.nsid and self.nsid is not None:
            options = encode_option(OPTION_NSID, self.nsid)
        client_cookie = asked.client_cookie
        if client_cookie is not None and secrets is not None:
            # RFC 7873 §5.2.3: the client cookie echoed, with a server cookie for this client
            cookie = make_server_cookie(
                secrets.current, client_cookie, packed(source), int(self.clock())
            )
            options += encode_option(OPTION_COOKIE, client_cookie + cookie)
        at = len(reply) - opt_rdata - 2  # the OPT's RDLENGTH
        rdlength = (opt_rdata + len(options)).to_bytes(2, "big")
        return b"".join((reply[:at], rdlength, reply[at + 2 :], options))


def packed(source: str) -> bytes:
    """The client address as RFC 9018 §4.4 hashes it: 4 bytes for IPv4 (IPv4-mapped IPv6
    too), 16 for IPv6."""
    if ":" in source:
        address = socket.inet_pton(socket.AF_INET6, source.split("%", 1)[0])
        return address[12:] if address[:12] == b"\x00" * 10 + b"\xff\xff" else address
    return socket.inet_aton(source)


def nsid_payload(
    setting: str | None, hostname: Callable[[], str] = socket.gethostname
) -> bytes | None:
    """The NSID setting as sent: None (unset), "hostname" (this host's name), or the text."""
    if not setting:
        return None
    return (hostname() if setting == "hostname" else setting).encode("utf-8")
