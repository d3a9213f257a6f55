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
from geodns.dns.encode import COPIED_FLAGS
from geodns.dns.packet import LATENCY_SAMPLE_EVERY, PacketAnswerer, QueryStats
from geodns.dns.query import QueryContext, Transport, source_network
from geodns.dns.wire import FLAG_AA, FLAG_QR, Query
from geodns.dns.zone import TYPE_A, TYPE_AAAA, Zone
from geodns.pools.compile import CompiledPool
from geodns.pools.select import Prepared, prepare
from geodns.snapshot import Snapshot, SnapshotHolder, containing_zone

MAX_ENTRIES = 65536  # then start over: bounded memory whatever names a flood asks for
MAX_SOURCES = 4096  # per pool plan: resolvers asking without ECS
COUNTS = struct.Struct("!HHHH")


class PoolReply:
    """A pool reply for one client, all but the drawn members precomputed."""

    __slots__ = ("draw", "head", "tail", "fits")

    def __init__(self, plan: PoolPlan, prepared: Prepared) -> None:
        self.draw = prepared.draw
        edns = plan.query.edns
        opt = encode_opt(edns, 0, prepared.scope_prefix) if edns is not None else b""
        additional = 1 if opt else 0
        size = prepared.draw.size
        if size:
            counts = COUNTS.pack(1, size, 0, additional)
            self.tail = opt
        else:  # NODATA (RFC 2308 §2.2): the zone's SOA in authority
            counts = COUNTS.pack(1, 0, 1, additional)
            self.tail = plan.nodata + opt
        self.head = plan.flags.to_bytes(2, "big") + counts + plan.question
        # every member's record of one family has the same length: the reply's size is known
        record = 16 if plan.qtype == TYPE_A else 28
        self.fits = 2 + len(self.head) + size * record + len(self.tail) <= plan.limit


class PoolPlan:
    """What every reply to one pool query shares; per client, a PoolReply."""

    __slots__ = (
        "pool",
        "qtype",
        "flags",
        "question",
        "query",
        "nodata",
        "stats_key",
        "ecs_reply",
        "by_source",
        "transport",
        "limit",
    )

    def __init__(
        self, pool: CompiledPool, query: Query, zone: Zone, transport: Transport, limit: int
    ) -> None:
        self.pool = pool
        self.transport = transport
        self.limit = limit
        self.qtype = query.qtype
        self.flags = FLAG_QR | FLAG_AA | (query.flags & COPIED_FLAGS)
        self.question = query.question
        self.query = query  # for its OPT record: echoed with each reply's scope
        owner, tails = negative_soa(zone)
        self.nodata = owner + tails[0]
        self.stats_key = (0, query.qtype, transport.value, pool.pool.name)
        self.ecs_reply: PoolReply | None = None  # the ECS bytes fix the client: one reply
        self.by_source: dict[str, PoolReply] = {}  # otherwise the client is the source


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
        plan = PoolPlan(pool, query, zone, transport, ctx.size_limit)
        edns = query.edns
        if edns is not None and edns.client_subnet is not None:
            client = client_for(pool, ctx.client_network(), snapshot)
            plan.ecs_reply = PoolReply(plan, prepare(pool, query.qtype, client, snapshot.health))
        return plan

    def _pool_reply(
        self, plan: PoolPlan, data: bytes, source: str, snapshot: Snapshot
    ) -> bytes | None:
        reply = plan.ecs_reply
        if reply is None:
            reply = plan.by_source.get(source)
            if reply is None:
                if len(plan.by_source) >= MAX_SOURCES:
                    plan.by_source.clear()
                client = client_for(plan.pool, source_network(source), snapshot)
                reply = PoolReply(plan, prepare(plan.pool, plan.qtype, client, snapshot.health))
                plan.by_source[source] = reply
        if not reply.fits:  # a long name and 8 AAAA over a 512-byte limit: TC, the full path
            return self.full(data, source, plan.transport)
        members = reply.draw(self.rng)
        self.stats.answered[plan.stats_key] += 1
        return b"".join((data[:2], reply.head, *[m.record for m in members], reply.tail))
