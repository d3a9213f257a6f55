"""The front of the query path: a repeated query is answered from what the first one built.

Pure apart from the dict it keeps: no I/O, no awaits. Entries are keyed by the query's
bytes after the ID, plus the transport, and live as long as the snapshot they were built
from. A static reply is stored whole and only gets the new ID. A query for a pool keeps a
plan (the pool, the reply's fixed bytes, and for ECS queries the located client), so only
the selection runs again. Everything else, and every first sight, goes through the full
path (PacketAnswerer), which stays the reference: tests compare the two byte for byte.
"""

from __future__ import annotations

import random
import struct
import time

from geodns.dns.authority import SERVFAIL, Answer, client_for, negative_soa
from geodns.dns.edns import encode_opt
from geodns.dns.encode import COPIED_FLAGS, POINTER_TO_QUESTION
from geodns.dns.packet import LATENCY_SAMPLE_EVERY, PacketAnswerer, QueryStats
from geodns.dns.query import QueryContext, Transport, source_network
from geodns.dns.wire import FLAG_AA, FLAG_QR, Query
from geodns.dns.zone import TYPE_A, TYPE_AAAA, Zone
from geodns.pools.compile import CompiledPool
from geodns.pools.select import Client, select
from geodns.snapshot import Snapshot, SnapshotHolder, containing_zone

MAX_ENTRIES = 65536  # then start over: bounded memory whatever names a flood asks for
COUNTS = struct.Struct("!HHHH")


class PoolPlan:
    """What a pool query's reply needs besides the selection itself."""

    __slots__ = (
        "pool",
        "qtype",
        "client",
        "flags",
        "question",
        "query",
        "nodata",
        "stats_key",
        "limit",
    )

    def __init__(
        self,
        pool: CompiledPool,
        query: Query,
        client: Client | None,
        zone: Zone,
        transport: Transport,
        limit: int,
    ) -> None:
        self.pool = pool
        self.qtype = query.qtype
        self.client = client  # None: the query has no ECS, so the client is its source
        self.flags = FLAG_QR | FLAG_AA | (query.flags & COPIED_FLAGS)
        self.question = query.question
        self.query = query  # for its OPT record: echoed with each reply's scope
        owner, tails = negative_soa(zone)
        self.nodata = owner + tails[0]  # RFC 2308 §2.2: NODATA carries the zone's SOA
        self.stats_key = (0, query.qtype, transport.value, pool.pool.name)
        self.limit = limit


class FastAnswerer:
    """Callable the listeners dispatch to; same contract as PacketAnswerer."""

    def __init__(
        self,
        holder: SnapshotHolder,
        rng: random.Random | None = None,
        stats: QueryStats | None = None,
    ) -> None:
        self.full = PacketAnswerer(holder, rng, stats)
        self.holder = holder
        self.rng = self.full.rng
        self.stats = self.full.stats
        self._snapshot: Snapshot | None = None
        self._entries: dict[bytes, tuple[bytes, tuple[int, int, str, str]] | PoolPlan] = {}

    def __call__(self, data: bytes, source: str, transport: Transport) -> bytes | None:
        stats = self.stats
        stats.sample_countdown -= 1
        if stats.sample_countdown:
            return self._answer(data, source, transport)
        stats.sample_countdown = LATENCY_SAMPLE_EVERY
        started = time.perf_counter()
        reply = self._answer(data, source, transport)
        stats.observe_latency(time.perf_counter() - started)
        return reply

    def _answer(self, data: bytes, source: str, transport: Transport) -> bytes | None:
        snapshot = self.holder.current
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._entries = {}
        key = data[2:] + (b"T" if transport is Transport.TCP else b"U")
        entry = self._entries.get(key)
        if entry is None:
            return self._first_sight(key, data, source, transport, snapshot)
        if isinstance(entry, PoolPlan):
            return self._pool_reply(entry, data, source, snapshot)
        tail, stats_key = entry
        self.stats.answered[stats_key] += 1
        return data[:2] + tail

    def _first_sight(
        self, key: bytes, data: bytes, source: str, transport: Transport, snapshot: Snapshot
    ) -> bytes | None:
        reply, query, answer = self.full.respond(data, source, transport)
        if reply is None or query is None or answer is None or answer.rcode == SERVFAIL:
            return reply  # dropped, FORMERR (not worth a slot) or a failure: never kept
        if len(self._entries) >= MAX_ENTRIES:
            self._entries = {}
        if answer.pool is None:
            self._entries[key] = (reply[2:], (answer.rcode, query.qtype, transport.value, ""))
        elif (plan := self._plan(query, answer, source, transport, snapshot)) is not None:
            self._entries[key] = plan
        return reply

    def _plan(
        self, query: Query, answer: Answer, source: str, transport: Transport, snapshot: Snapshot
    ) -> PoolPlan | None:
        """A plan for a query straight at a pool's A/AAAA (not through a CNAME or ANY)."""
        if query.qtype not in (TYPE_A, TYPE_AAAA):
            return None
        pool = snapshot.pools.get(query.qname)
        zone = containing_zone(snapshot.zones, query.qname)
        if pool is None or zone is None:
            return None
        ctx = QueryContext(query, source, transport)
        client = None
        edns = query.edns
        if edns is not None and edns.client_subnet is not None:
            # fixed by the ECS bytes, which are part of the key
            client = client_for(pool, ctx.client_network(), snapshot)
        return PoolPlan(pool, query, client, zone, transport, ctx.size_limit)

    def _pool_reply(self, plan: PoolPlan, data: bytes, source: str, snapshot: Snapshot) -> bytes:
        client = plan.client
        if client is None:
            client = client_for(plan.pool, source_network(source), snapshot)
        selection = select(plan.pool, plan.qtype, client, snapshot.health, self.rng)
        members = selection.members
        edns = plan.query.edns
        opt = encode_opt(edns, 0, selection.scope_prefix) if edns is not None else b""
        if members:
            body = b"".join([POINTER_TO_QUESTION + m.tail for m in members])
            counts = COUNTS.pack(1, len(members), 0, 1 if opt else 0)
        else:
            body = plan.nodata
            counts = COUNTS.pack(1, 0, 1, 1 if opt else 0)
        reply = b"".join(
            (data[:2], plan.flags.to_bytes(2, "big"), counts, plan.question, body, opt)
        )
        if len(reply) > plan.limit:  # cannot happen with 8 answers, but never send too much
            return self.full(data, source, Transport.UDP) or reply
        self.stats.answered[plan.stats_key] += 1
        return reply
