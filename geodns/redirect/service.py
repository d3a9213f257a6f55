"""RedirectService: one complete HTTP request -> the response bytes, by the pools' selection.

Pure apart from the counters and the bounded caches it keeps: no I/O, no awaits. The
listener (geodns.redirect.server) frames requests and writes what this returns.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from geodns.redirect.decide import Redirects, decide, host_key, safe_target, split_target
from geodns.redirect.forwarded import (
    Address,
    Network,
    format_address,
    forwarded_client,
    is_trusted,
    trusted_networks,
)
from geodns.redirect.response import encode_decision, encode_error, wants_json
from geodns.snapshot import SnapshotHolder

log = logging.getLogger(__name__)

MAX_HOST_KEYS = 4096  # Host header -> name key cache; then it starts over
MAX_CLIENTS = 65536  # (proxy, forwarding headers) -> client cache; then it starts over


@dataclass
class RedirectStats:
    """Plain counters the listener bumps; metrics.py reads them at scrape time."""

    # (pool name or "", member address or "", status) -> responses
    responses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    _last_logged: dict[str, float] = field(default_factory=dict)

    def note_failure(self, cause: str, exc: BaseException) -> None:
        self.failures[cause] += 1
        now = time.monotonic()
        if now - self._last_logged.get(cause, 0.0) >= 1.0:
            self._last_logged[cause] = now
            log.error(
                "redirect failed cause=%s count=%d", cause, self.failures[cause], exc_info=exc
            )


class RedirectService:
    """What every connection shares: the snapshot, the choice, the counters."""

    def __init__(
        self,
        holder: SnapshotHolder,
        *,
        pool_in_path: bool = False,
        trusted: Sequence[Network] = (),
        rng: random.Random | None = None,
        stats: RedirectStats | None = None,
    ) -> None:
        self.holder = holder
        self.pool_in_path = pool_in_path
        self.trusted = trusted_networks(trusted)
        self.rng = rng if rng is not None else random.Random()
        self.stats = stats if stats is not None else RedirectStats()
        self._redirects = Redirects()
        self._keys: dict[str, bytes | None] = {}
        self._clients: dict[tuple[Address, str | None, str | None], Address] = {}
        self._date_second = 0
        self._date = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = email.utils.formatdate(now, usegmt=True).encode("ascii")
        return self._date

    def respond(
        self, request: Request, peer: Address, connection: bytes, peer_trusted: bool = False
    ) -> bytes:
        """The response bytes for one complete request (never raises: a bug is a 500).

        peer_trusted: the peer is one of the trusted proxies (the connection knows).
        """
        try:
            return self._respond(request, peer, connection, peer_trusted)
        except Exception as exc:  # a bug: still answer, counted and logged once a second
            self.stats.note_failure(type(exc).__name__, exc)
            self.stats.responses[("", "", 500)] += 1
            return encode_error(500, "internal error", connection=connection, date=self.date())

    def is_trusted(self, peer: Address) -> bool:
        return bool(self.trusted) and is_trusted(peer, self.trusted)

    def _respond(
        self, request: Request, peer: Address, connection: bytes, peer_trusted: bool
    ) -> bytes:
        method = request.method
        head = method == b"HEAD"
        as_json = request.accept is not None and wants_json(request.accept)
        if method != b"GET" and not head:
            self.stats.responses[("", "", 405)] += 1
            return encode_error(
                405,
                "only GET and HEAD are redirected",
                connection=connection,
                date=self.date(),
                extra=b"Allow: GET, HEAD\r\n",
            )
        target = request.target
        host = request.host
        if target[:1] != b"/":
            if target.startswith((b"http://", b"https://")):  # absolute-form, RFC 9112 §3.2.2
                authority, slash, rest = target.partition(b"//")[2].partition(b"/")
                host, target = authority.decode("latin-1"), slash + rest or b"/"
            else:
                self.stats.responses[("", "", 400)] += 1
                return encode_error(
                    400,
                    "the request target must be a path",
                    connection=connection,
                    date=self.date(),
                )
        path = safe_target(target)
        if self.pool_in_path:
            named, path = split_target(path, True)
            pool_text = named or ""
        else:
            pool_text = host or ""
        key = self._keys.get(pool_text)
        if key is None:
            if len(self._keys) >= MAX_HOST_KEYS:
                self._keys.clear()
            key = self._keys[pool_text] = host_key(pool_text)
        snapshot = self.holder.current
        found = self._redirects.find(snapshot, key) if key is not None else None
        client = peer
        if peer_trusted:
            # behind a proxy the same clients come again and again: their header's answer
            # is kept (bounded), keyed by everything it depends on
            seen = (peer, request.forwarded, request.forwarded_for)
            known = self._clients.get(seen)
            if known is None:
                if len(self._clients) >= MAX_CLIENTS:
                    self._clients.clear()
                known = self._clients[seen] = forwarded_client(
                    peer, self.trusted, request.forwarded, request.forwarded_for
                )
            client = known
        family, address = client
        decision = decide(
            found, pool_text, family, address, path, snapshot, self.rng, self._redirects
        )
        self.stats.responses[(decision.pool, decision.member, decision.status)] += 1
        return encode_decision(
            decision,
            client=format_address(client) if as_json else "",
            as_json=as_json,
            head=head,
            connection=connection,
            date=self.date(),
        )


class Request:
    """What one request carries that the redirector reads."""

    __slots__ = ("method", "target", "host", "accept", "forwarded", "forwarded_for")

    def __init__(self) -> None:
        self.method = b""
        self.target = b""
        self.host: str | None = None
        self.accept: str | None = None
        self.forwarded: str | None = None
        self.forwarded_for: str | None = None
