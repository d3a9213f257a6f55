"""Bytes in, bytes out, the reference way: decode, resolve, secure (DO), compile_reply,
render, then the send-time options (COOKIE, NSID: options.py).

Pure apart from logging: no awaits, no I/O. The one place a query's failure is caught:
a malformed packet gets FORMERR or is dropped; a bug while answering gets SERVFAIL,
counted, and logged at most once a second per cause, so the server keeps serving
whatever arrives. cache.py answers repeats from what this path compiled (the reply as
rendered, before the send-time options: it is shared by every client).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from geodns.answer.acl import DenyAction
from geodns.answer.context import QueryContext, Transport
from geodns.answer.defences import Defences, rrl_key, slip_form
from geodns.answer.dnssec import secure
from geodns.answer.options import Asked
from geodns.answer.reply import (
    Reply,
    compile_reply,
    cookie_only_reply,
    encode_formerr,
    error_reply,
)
from geodns.answer.resolve import PROHIBITED, Answer, PreparePool, prepare_pool, resolve
from geodns.answer.rrl import ERROR_KEY, SEND, SLIP
from geodns.answer.stats import QueryStats
from geodns.dns.edns import ExtendedError
from geodns.dns.rcode import BADCOOKIE, FORMERR, NOERROR, REFUSED, SERVFAIL
from geodns.dns.wire import (
    OPCODE_MASK,
    FormError,
    NoQuestion,
    NotAQuery,
    Query,
    ShortHeader,
    decode_query,
)
from geodns.snapshot import Snapshot, SnapshotHolder

UDP = Transport.UDP


@dataclass(frozen=True, slots=True)
class Outcome:
    """What answering one packet gave: the bytes sent, and what they were made from."""

    data: bytes | None  # what to send; None: dropped
    query: Query | None = None
    answer: Answer | None = None
    reply: Reply | None = None
    ctx: QueryContext | None = None
    rendered: bytes | None = None  # the reply before the defences had their say
    rrl_key: bytes = ERROR_KEY  # what RRL counts it as
    slip: bytes | None = None  # its slip form after the ID (None: dropped when limited)
    asked: Asked | None = None  # the send-time options it got (then not kept as it was sent)


DROPPED = Outcome(None)


class PacketAnswerer:
    """Callable the listeners dispatch to: (packet, source address, transport) -> reply."""

    def __init__(
        self,
        holder: SnapshotHolder,
        rng: random.Random | None = None,
        stats: QueryStats | None = None,
        defences: Defences | None = None,
    ) -> None:
        self.holder = holder
        self.rng = rng if rng is not None else random.Random()
        self.stats = stats if stats is not None else QueryStats()
        self.defences = defences if defences is not None else Defences()

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
        defences = self.defences
        if defences.access is not None and not defences.access.permits(source):
            return self._deny(data, source, transport)
        try:
            query = decode_query(data)
        except (ShortHeader, NotAQuery) as exc:
            stats.dropped[type(exc).__name__] += 1
            return DROPPED  # no ID to answer to, or a response: never answer those
        except NoQuestion as exc:
            return Outcome(self._no_question(exc, source, transport, snapshot))
        except FormError as exc:
            return Outcome(self._formerr(exc, source, transport))
        edns = query.edns
        asked = None
        if edns is not None and (edns.client_cookie is not None or edns.nsid):
            asked = defences.options.asked(
                edns.client_cookie, edns.server_cookie, edns.nsid, source, snapshot.cookie_secrets
            )
            if asked is not None and defences.options.refuses(asked, transport is UDP):
                return self._bad_cookie(query, source, transport, snapshot, asked)
        try:
            ctx = QueryContext(query, source, transport, asked.reserve if asked else 0)
            answer = resolve(ctx, snapshot, prepare_for)
            if edns is not None and edns.do:
                answer = secure(answer, query, snapshot)
            reply = compile_reply(query, answer, ctx.size_limit)
            out = reply.render(data[:2], self.rng)
            key, slip = ERROR_KEY, None
            if defences.limiter is not None:
                key, slip = rrl_key(ctx, answer), slip_form(query, answer)
        except Exception as exc:  # a bug: still answer
            stats.note_failure(type(exc).__name__, exc)
            failed = self._error(query, SERVFAIL, None, source, transport, snapshot, asked)
            if failed is not None:
                stats.answered[(SERVFAIL, query.qtype, transport.value, "")] += 1
            return Outcome(failed, query)
        if asked is not None and asked.server_cookie_valid:
            sent: bytes | None = out  # RFC 7873 §5.3: the address is proven, never limited
        elif (
            asked is not None
            and asked.client_cookie is not None
            and slip is not None
            and defences.limiter is not None
            and transport is UDP
        ):
            verdict = defences.verdict(key, source)
            if verdict is SLIP:
                bad = self.bad_cookie_slip(query, source, transport, snapshot, asked)
                return Outcome(bad, query, answer, reply, ctx, out, key, slip, asked)
            sent = out if verdict is SEND else None
        else:
            sent = defences.limit(out, key, slip, source, transport)
        if sent is not None:
            pool = answer.pool.pool.name if answer.pool is not None else ""
            stats.answered[(answer.rcode, query.qtype, transport.value, pool)] += 1
            if asked is not None:
                sent = defences.options.append(
                    sent, reply.opt_rdata, asked, source, snapshot.cookie_secrets
                )
        return Outcome(sent, query, answer, reply, ctx, out, key, slip, asked)

    def _formerr(self, error: FormError, source: str, transport: Transport) -> bytes | None:
        """RFC 1035 §4.1.1: FORMERR, the question echoed when it was readable."""
        formerr = encode_formerr(error)
        if formerr is not None:
            formerr = self.defences.limit(formerr, ERROR_KEY, None, source, transport)
        if formerr is not None:
            self.stats.answered[(FORMERR, 0, transport.value, "")] += 1
        return formerr

    def _no_question(
        self, error: NoQuestion, source: str, transport: Transport, snapshot: Snapshot
    ) -> bytes | None:
        """RFC 7873 §5.4: a QUERY with no question and a COOKIE asks for a server cookie:
        NOERROR with a fresh one (BADCOOKIE, and a fresh one, when the server cookie it
        sent is not valid), on either transport, whatever require_server_cookie says. As
        small as any error and limited as one; without cookies (or a COOKIE): FORMERR."""
        edns, options = error.edns, self.defences.options
        opcode = error.header[1] & OPCODE_MASK if error.header is not None else -1
        if edns is None or edns.client_cookie is None or opcode != 0:
            return self._formerr(error, source, transport)
        asked = options.asked(
            edns.client_cookie, edns.server_cookie, edns.nsid, source, snapshot.cookie_secrets
        )
        if asked is None or asked.client_cookie is None:  # cookies off: as if unknown
            return self._formerr(error, source, transport)
        rcode = BADCOOKIE if edns.server_cookie and not asked.server_cookie_valid else NOERROR
        out, opt_rdata = cookie_only_reply(error, rcode)
        if not asked.server_cookie_valid:
            limited = self.defences.limit(out, ERROR_KEY, None, source, transport)
            if limited is None:
                return None
        self.stats.answered[(rcode, 0, transport.value, "")] += 1
        return options.append(out, opt_rdata, asked, source, snapshot.cookie_secrets)

    def _error(
        self,
        query: Query,
        rcode: int,
        why: ExtendedError | None,
        source: str,
        transport: Transport,
        snapshot: Snapshot,
        asked: Asked | None,
    ) -> bytes | None:
        """An error reply as RRL lets it go, with the send-time options when asked."""
        reply = error_reply(query, rcode, why)
        out = query.id.to_bytes(2, "big") + reply.head + reply.tail
        sent = self.defences.limit(out, ERROR_KEY, None, source, transport)
        if sent is not None and asked is not None:
            sent = self.defences.options.append(
                sent, reply.opt_rdata, asked, source, snapshot.cookie_secrets
            )
        return sent

    def bad_cookie_slip(
        self, query: Query, source: str, transport: Transport, snapshot: Snapshot, asked: Asked
    ) -> bytes:
        """What RRL slips to a client that sent a client cookie, instead of the TC form:
        BADCOOKIE with a fresh server cookie (RFC 7873 §5.2.3 lets the server choose it; BIND
        does so), as small as the TC form. The client retries over UDP with that cookie and
        is answered in full, never limited again, where TC would cost it and us a TCP
        connection. The limiter counted it as slipped."""
        reply = error_reply(query, BADCOOKIE)
        out = query.id.to_bytes(2, "big") + reply.head + reply.tail
        self.stats.answered[(BADCOOKIE, query.qtype, transport.value, "")] += 1
        return self.defences.options.append(
            out, reply.opt_rdata, asked, source, snapshot.cookie_secrets
        )

    def _bad_cookie(
        self, query: Query, source: str, transport: Transport, snapshot: Snapshot, asked: Asked
    ) -> Outcome:
        """BADCOOKIE (RFC 7873 §5.2.3, §5.2.4) with a fresh cookie: the client retries with it."""
        sent = self._error(query, BADCOOKIE, None, source, transport, snapshot, asked)
        if sent is not None:
            self.stats.answered[(BADCOOKIE, query.qtype, transport.value, "")] += 1
        return Outcome(sent, query, asked=asked)

    def _deny(self, data: bytes, source: str, transport: Transport) -> Outcome:
        """A source dns_deny (or dns_allow) shuts out: dropped, or REFUSED with EDE 18
        (Prohibited, RFC 8914 §4.19) when the packet is a readable query."""
        defences = self.defences
        action = defences.deny_action
        defences.denied[action.value] += 1
        if action is DenyAction.DROP:
            return DROPPED
        try:
            query = decode_query(data)
        except FormError:
            return DROPPED  # nothing worth saying to a shut-out source's malformed packet
        edns = query.edns
        asked = None
        if edns is not None and (edns.client_cookie is not None or edns.nsid):
            asked = defences.options.asked(
                edns.client_cookie, edns.server_cookie, edns.nsid, source, None
            )  # a shut-out source gets no cookie: nothing it sends back would count
        sent = self._error(
            query, REFUSED, PROHIBITED, source, transport, self.holder.current, asked
        )
        if sent is not None:
            self.stats.answered[(REFUSED, query.qtype, transport.value, "")] += 1
        return Outcome(sent, query)
