"""The front of the query path: a repeated query is answered from what the first one compiled.

Pure apart from the dicts it keeps: no I/O, no awaits. Replies are keyed by what they
depend on, and live as long as the snapshot they were compiled from:

- by the query's bytes after the ID, plus the transport (the size limit differs);
- for a pool whose answer depends on the client, asked without ECS, then by the client
  network the answer holds for (its scope), not by every resolver address;
- a pool's selection (Prepared) by the client network it holds for, so a new ECS
  address inside a known scope network only compiles a reply.

A query carrying COOKIE or NSID options is kept by its bytes without them (and the room
they take): the reply is the same for every client, and the send-time options (a fresh
cookie for this client) are added to it as it is sent (options.py), never stored.

A fixed reply is stored whole and only gets the new ID; a drawn one draws again. Every
first sight goes through PacketAnswerer, the reference path: tests compare the two byte
for byte. Every table is bounded: a flood of random names or addresses cannot grow it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Generic, TypeVar

from geodns.answer.context import ClientNetwork, QueryContext, Transport, source_network
from geodns.answer.defences import Defences
from geodns.answer.options import Asked
from geodns.answer.packet import Outcome, PacketAnswerer
from geodns.answer.reply import Reply
from geodns.answer.resolve import NO_CLIENT, client_for
from geodns.answer.rrl import SEND, SLIP
from geodns.answer.stats import LATENCY_SAMPLE_EVERY, MEMBER_SAMPLE_EVERY, QueryStats
from geodns.dns.rcode import SERVFAIL
from geodns.dns.wire import FormError, SendTimeOptions, decode_query, find_send_time_options
from geodns.pools.compile import BITS, CompiledMember, CompiledPool
from geodns.pools.draw import FIXED, Draw
from geodns.pools.select import Prepared, prepare
from geodns.snapshot import Snapshot, SnapshotHolder

UDP = Transport.UDP  # a module global: an enum member read through its class costs more
MAX_ENTRIES = 65536  # replies per snapshot; then start over
MAX_NETWORKS = 4096  # client networks per pool query (or per pool selection)
StatsKey = tuple[int, int, str, str]
T = TypeVar("T")


class ByNetwork(Generic[T]):
    """Values that hold for a client network: what was computed for one client is found
    again for every client of the same family and source prefix inside its scope network.

    A selection made for a client with source prefix s and scope L <= s depends on the
    first L bits of the address (masked to s) alone, so the key is (family, s, L, those
    bits); a lookup tries each scope seen so far, most specific first.
    """

    __slots__ = ("values", "scopes")

    def __init__(self) -> None:
        self.values: dict[tuple[int, int, int, int], T] = {}
        self.scopes: dict[tuple[int, int], list[int]] = {}  # (family, source prefix) -> scopes

    def get(self, network: ClientNetwork) -> T | None:
        family, source_prefix, address = network.family, network.source_prefix, network.address
        scopes = self.scopes.get((family, source_prefix))
        if scopes is None:
            return None
        bits = BITS[family]
        for scope in scopes:
            found = self.values.get((family, source_prefix, scope, address >> (bits - scope)))
            if found is not None:
                return found
        return None

    def put(self, network: ClientNetwork, scope: int, value: T) -> None:
        if len(self.values) >= MAX_NETWORKS:
            self.values.clear()
            self.scopes.clear()
        family, source_prefix = network.family, network.source_prefix
        scope = min(scope, source_prefix)
        key = (family, source_prefix, scope, network.address >> (BITS[family] - scope))
        self.values[key] = value
        scopes = self.scopes.setdefault((family, source_prefix), [])
        if scope not in scopes:
            scopes.append(scope)
            scopes.sort(reverse=True)


EVERY_CLIENT = -1  # Fixed.scope / Drawn.scope: the reply holds for whoever sends the bytes


class Fixed:
    """A reply whose every byte but the ID is known (members: a pool's, when it holds any);
    what RRL counts it as, its slip form.

    scope: EVERY_CLIENT, or the prefix length of the source network it holds for (a
    client-dependent pool asked without ECS), as the native table keeps it too.
    """

    __slots__ = ("data", "stats_key", "members", "rrl_key", "slip", "scope", "opt_rdata")

    def __init__(
        self,
        data: bytes,
        stats_key: StatsKey,
        outcome: Outcome,
        members: Sequence[CompiledMember] = (),
        scope: int = EVERY_CLIENT,
    ) -> None:
        self.data, self.stats_key, self.members = data, stats_key, members
        self.rrl_key, self.slip = outcome.rrl_key, outcome.slip
        self.scope = scope
        self.opt_rdata = outcome.reply.opt_rdata if outcome.reply is not None else -1


class Drawn:
    """A reply that draws a pool's members each time it is sent (a Reply's parts); signed
    is the Reply itself when the drawn records carry RRSIGs (looked up by what was drawn).
    scope: as Fixed's."""

    __slots__ = (
        "head",
        "draw",
        "records",
        "tail",
        "stats_key",
        "rrl_key",
        "slip",
        "signed",
        "scope",
        "opt_rdata",
    )

    def __init__(
        self,
        reply: Reply,
        draw: Draw,
        stats_key: StatsKey,
        outcome: Outcome,
        scope: int = EVERY_CLIENT,
    ) -> None:
        self.head, self.draw, self.records, self.tail = reply.head, draw, reply.records, reply.tail
        self.stats_key = stats_key
        self.rrl_key, self.slip = outcome.rrl_key, outcome.slip
        self.signed = reply if reply.signatures is not None else None
        self.scope = scope
        self.opt_rdata = reply.opt_rdata


class PerClient:
    """A pool query without ECS whose answer depends on who asks: replies by the client
    network they hold for, and, so that a resolver asking again costs one lookup, by its
    source address as the socket gave it."""

    __slots__ = ("replies", "by_source")

    def __init__(self) -> None:
        self.replies: ByNetwork[Fixed | Drawn] = ByNetwork()
        self.by_source: dict[str, Fixed | Drawn] = {}

    def get(self, source: str) -> Fixed | Drawn | None:
        found = self.by_source.get(source)
        if found is None:
            found = self.replies.get(source_network(source))
            if found is not None:
                self.remember(source, found)
        return found

    def remember(self, source: str, entry: Fixed | Drawn) -> None:
        if len(self.by_source) >= MAX_NETWORKS:
            self.by_source.clear()
        self.by_source[source] = entry


Entry = Fixed | Drawn | PerClient


class CachingAnswerer:
    """Callable the listeners dispatch to; same contract as PacketAnswerer."""

    def __init__(
        self,
        holder: SnapshotHolder,
        rng: random.Random | None = None,
        stats: QueryStats | None = None,
        defences: Defences | None = None,
    ) -> None:
        self.full = PacketAnswerer(holder, rng, stats, defences)
        self.holder = holder
        self.rng = self.full.rng
        self.stats = self.full.stats
        self.defences = self.full.defences
        self._snapshot: Snapshot | None = None
        self._entries: dict[bytes, Entry] = {}
        self._selections: dict[tuple[bytes, int], ByNetwork[Prepared]] = {}
        self._independent: dict[tuple[bytes, int], Prepared] = {}

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
            self._start(snapshot)
        defences = self.defences
        if defences.access is not None and not defences.access.permits(source):
            return self.full.respond(data, source, transport, snapshot).data  # denied
        key = data[2:] + (b"T" if transport is Transport.TCP else b"U")
        entry = self._entries.get(key)
        if entry is None and (options := find_send_time_options(data)) is not None:
            return self._answer_asking(options, data, source, transport, snapshot)
        if type(entry) is PerClient:
            found = entry.by_source.get(source) or entry.get(source)
            if found is None:
                return self._first_sight(key, data, source, transport, snapshot, entry)[0]
            entry = found
        if type(entry) is Fixed:
            out = data[:2] + entry.data
            members: Sequence[CompiledMember] = entry.members
        elif type(entry) is Drawn:
            members = entry.draw(self.rng)
            if entry.signed is not None:  # DO in a signed zone: the drawn set's RRSIGs too
                out = entry.signed.assemble(data[:2], members)
            else:
                records = entry.records  # Reply.render, inlined: the hottest line of a pool answer
                drawn = [records[m.index] for m in members]
                out = b"".join((data[:2], entry.head, *drawn, entry.tail))
        else:
            return self._first_sight(key, data, source, transport, snapshot, None)[0]
        if defences.limiter is not None and transport is UDP:
            limited = defences.limit(out, entry.rrl_key, entry.slip, source, transport)
            if limited is None:
                return None
            out = limited
        stats = self.stats
        stats.answered[entry.stats_key] += 1
        if members and not stats.sample_countdown % MEMBER_SAMPLE_EVERY:  # a fair 1-in-8 sample
            count_members(stats, members)
        return out

    def _answer_asking(
        self,
        options: SendTimeOptions,
        data: bytes,
        source: str,
        transport: Transport,
        snapshot: Snapshot,
    ) -> bytes | None:
        """A query with COOKIE or NSID options: the shared reply (kept by the query's bytes
        without them), then the send-time options for this client."""
        defences = self.defences
        asked = defences.options.asked(
            options.client_cookie,
            options.server_cookie,
            options.nsid,
            source,
            snapshot.cookie_secrets,
        )
        if defences.options.refuses(asked, transport is UDP):
            return self.full.respond(data, source, transport, snapshot).data  # BADCOOKIE
        room = asked.reserve if asked is not None else 0
        key = options.key + (b"T" if transport is Transport.TCP else b"U") + asking_mark(room)
        entry = self._entries.get(key)
        if type(entry) is PerClient:
            found = entry.by_source.get(source) or entry.get(source)
            if found is None:
                return self._first_sight(key, data, source, transport, snapshot, entry, True)[0]
            entry = found
        if type(entry) is not Fixed and type(entry) is not Drawn:
            return self._first_sight(key, data, source, transport, snapshot, None, True)[0]
        out, members = render_entry(entry, data[:2], self.rng)
        proven = asked is not None and asked.server_cookie_valid  # never rate limited
        if defences.limiter is not None and transport is UDP and not proven:
            if asked is not None and asked.client_cookie is not None and entry.slip is not None:
                verdict = defences.verdict(entry.rrl_key, source)
                if verdict is SLIP:  # BADCOOKIE with a fresh cookie rather than TC
                    return self._bad_cookie_slip(data, source, transport, snapshot, asked)
                if verdict is not SEND:
                    return None
            else:
                limited = defences.limit(out, entry.rrl_key, entry.slip, source, transport)
                if limited is None:
                    return None
                out = limited
        stats = self.stats
        stats.answered[entry.stats_key] += 1
        if members and not stats.sample_countdown % MEMBER_SAMPLE_EVERY:
            count_members(stats, members)
        if asked is None:
            return out
        return defences.options.append(out, entry.opt_rdata, asked, source, snapshot.cookie_secrets)

    def _bad_cookie_slip(
        self, data: bytes, source: str, transport: Transport, snapshot: Snapshot, asked: Asked
    ) -> bytes | None:
        try:
            query = decode_query(data)  # its key decoded before: only the ID and options differ
        except FormError:
            return None
        return self.full.bad_cookie_slip(query, source, transport, snapshot, asked)

    def answer_entry(
        self, data: bytes, source: str, transport: Transport
    ) -> tuple[bytes | None, Fixed | Drawn | None]:
        """The reply, as __call__ gives it, and the entry it came from (None: not kept, as
        for FORMERR, SERVFAIL, drops and denied sources). The native loop keeps that entry
        in its own table. Not timed here: the native loop times its batches itself."""
        snapshot = self.holder.current
        if snapshot is not self._snapshot:
            self._start(snapshot)
        access = self.defences.access
        if access is not None and not access.permits(source):
            return self._answer(data, source, transport), None
        key = data[2:] + (b"T" if transport is Transport.TCP else b"U")
        entry = self._entries.get(key)
        if entry is None and find_send_time_options(data) is not None:
            # a fresh cookie for this client, or NSID: C would send the reply without them
            return self._answer(data, source, transport), None
        if type(entry) is PerClient:
            found = entry.by_source.get(source) or entry.get(source)
            if found is None:
                return self._first_sight(key, data, source, transport, snapshot, entry)
            entry = found
        if type(entry) is Fixed or type(entry) is Drawn:
            return self._answer(data, source, transport), entry
        return self._first_sight(key, data, source, transport, snapshot, None)

    def _start(self, snapshot: Snapshot) -> None:
        """A new snapshot: nothing compiled from the old one may answer again."""
        self._snapshot = snapshot
        self._entries = {}
        self._selections = {}
        self._independent = {}

    def _first_sight(
        self,
        key: bytes,
        data: bytes,
        source: str,
        transport: Transport,
        snapshot: Snapshot,
        per_client: PerClient | None,
        asking: bool = False,
    ) -> tuple[bytes | None, Fixed | Drawn | None]:
        """asking: key is the query's without its send-time options (_answer_asking)."""
        outcome = self.full.respond(data, source, transport, snapshot, self._prepare)
        query, answer, reply = outcome.query, outcome.answer, outcome.reply
        rendered = outcome.rendered
        if query is None or answer is None or reply is None or rendered is None:
            # dropped, FORMERR (not worth a slot) or a failure: never kept
            return outcome.data, None
        if outcome.asked is not None and not asking:
            # send-time options on a query find_send_time_options cannot read: never kept
            # under its own bytes, whose next sight would then get the reply without them
            return outcome.data, None
        if answer.rcode == SERVFAIL:
            return outcome.data, None
        pool = answer.pool
        stats_key = (answer.rcode, query.qtype, transport.value, pool.pool.name if pool else "")
        edns = query.edns
        by_client = (
            pool is not None
            and pool.depends_on_client
            and (edns is None or edns.client_subnet is None)
        )
        scope = answer.scope_prefix if by_client else EVERY_CLIENT
        entry: Fixed | Drawn
        if reply.draw is None or reply.draw.kind == FIXED:
            members = reply.draw.members if reply.draw is not None else ()
            entry = Fixed(rendered[2:], stats_key, outcome, members, scope)
        else:
            entry = Drawn(reply, reply.draw, stats_key, outcome, scope)
        if by_client:
            if per_client is None:
                per_client = PerClient()
                self._store(key, per_client)
            per_client.replies.put(source_network(source), answer.scope_prefix, entry)
            per_client.remember(source, entry)
        else:
            self._store(key, entry)
        return outcome.data, entry

    def _store(self, key: bytes, entry: Entry) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries = {}
        self._entries[key] = entry

    def _prepare(
        self, pool: CompiledPool, qtype: int, ctx: QueryContext, snapshot: Snapshot
    ) -> Prepared:
        """prepare_pool that remembers each selection for the client network it holds for."""
        selection_key = (pool.name_key, qtype)
        if not pool.depends_on_client:
            prepared = self._independent.get(selection_key)
            if prepared is None:
                if len(self._independent) >= MAX_ENTRIES:
                    self._independent.clear()
                prepared = prepare(pool, qtype, NO_CLIENT, snapshot.health)
                self._independent[selection_key] = prepared
            return prepared
        network = ctx.client_network()
        known = self._selections.get(selection_key)
        if known is None:
            if len(self._selections) >= MAX_ENTRIES:
                self._selections.clear()
            known = self._selections[selection_key] = ByNetwork()
        prepared = known.get(network)
        if prepared is None:
            prepared = prepare(pool, qtype, client_for(pool, network, snapshot), snapshot.health)
            known.put(network, prepared.scope_prefix, prepared)
        return prepared


def asking_mark(room: int) -> bytes:
    """What ends the key of a query kept without its send-time options: the room they
    take, and a last byte no other key ends with (those end in T or U)."""
    return room.to_bytes(2, "big") + b"O"


def render_entry(
    entry: Fixed | Drawn, qid: bytes, rng: random.Random
) -> tuple[bytes, Sequence[CompiledMember]]:
    """The entry's reply with this ID (drawn again for a Drawn), and the members it holds."""
    if type(entry) is Fixed:
        return qid + entry.data, entry.members
    assert type(entry) is Drawn
    members = entry.draw(rng)
    if entry.signed is not None:
        return entry.signed.assemble(qid, members), members
    records = entry.records
    return b"".join((qid, entry.head, *[records[m.index] for m in members], entry.tail)), members


def count_members(stats: QueryStats, members: Sequence[CompiledMember]) -> None:
    """One sampled answer's members (at most max_answers, 8): each worth the sample's size."""
    counts = stats.member_answers
    for member in members:
        counts[member.stats_key] += MEMBER_SAMPLE_EVERY
