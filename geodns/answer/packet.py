"""Bytes in, bytes out, the reference way: decode, resolve, compile_reply, render.

Pure apart from logging: no awaits, no I/O. The one place a query's failure is caught:
a malformed packet gets FORMERR or is dropped; a bug while answering gets SERVFAIL,
counted, and logged at most once a second per cause, so the server keeps serving
whatever arrives. cache.py answers repeats from what this path compiled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from geodns.answer.context import QueryContext, Transport
from geodns.answer.reply import Reply, compile_reply, encode_formerr, encode_servfail
from geodns.answer.resolve import Answer, PreparePool, prepare_pool, resolve
from geodns.answer.stats import QueryStats
from geodns.dns.rcode import FORMERR, SERVFAIL
from geodns.dns.wire import FormError, NotAQuery, Query, ShortHeader, decode_query
from geodns.snapshot import Snapshot, SnapshotHolder


@dataclass(frozen=True, slots=True)
class Outcome:
    """What answering one packet gave: the bytes, and what they were made from."""

    data: bytes | None  # None: dropped
    query: Query | None = None
    answer: Answer | None = None
    reply: Reply | None = None
    ctx: QueryContext | None = None


DROPPED = Outcome(None)


class PacketAnswerer:
    """Callable the listeners dispatch to: (packet, source address, transport) -> reply."""

    def __init__(
        self,
        holder: SnapshotHolder,
        rng: random.Random | None = None,
        stats: QueryStats | None = None,
    ) -> None:
        self.holder = holder
        self.rng = rng if rng is not None else random.Random()
        self.stats = stats if stats is not None else QueryStats()

    def __call__(self, data: bytes, source: str, transport: Transport) -> bytes | None:
        return self.respond(data, source, transport, self.holder.current).data

    def respond(
        self,
        data: bytes,
        source: str,
        transport: Transport,
        snapshot: Snapshot,
        prepare_for: PreparePool = prepare_pool,
    ) -> Outcome:
        """The reply, and the query, Answer and Reply behind it when there were any."""
        stats = self.stats
        try:
            query = decode_query(data)
        except (ShortHeader, NotAQuery) as exc:
            stats.dropped[type(exc).__name__] += 1
            return DROPPED  # no ID to answer to, or a response: never answer those
        except FormError as exc:
            stats.answered[(FORMERR, 0, transport.value, "")] += 1
            return Outcome(encode_formerr(exc))  # RFC 1035 §4.1.1; question echoed if readable
        try:
            ctx = QueryContext(query, source, transport)
            answer = resolve(ctx, snapshot, prepare_for)
            reply = compile_reply(query, answer, ctx.size_limit)
            out = reply.render(data[:2], self.rng)
        except Exception as exc:  # a bug: still answer
            stats.note_failure(type(exc).__name__, exc)
            stats.answered[(SERVFAIL, query.qtype, transport.value, "")] += 1
            return Outcome(encode_servfail(query), query)
        pool = answer.pool.pool.name if answer.pool is not None else ""
        stats.answered[(answer.rcode, query.qtype, transport.value, pool)] += 1
        return Outcome(out, query, answer, reply, ctx)
