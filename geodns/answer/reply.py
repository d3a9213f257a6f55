"""compile_reply(query, answer, limit) -> Reply: the one form every reply takes.

Pure: no I/O. A Reply is the message after its ID, split where a pool's drawn records
go: fixed head (flags, counts, question, answer records before the draw), the draw over
the members' records as they sit in this reply, and the fixed tail (authority,
additional, OPT). Every name that may be compressed is (RFC 1035 §4.1.4, RFC 3597 §4),
against one compression table per reply; the drawn records are owned by a pointer. The
Python path, the native loop and the API's explain all send what compile_reply made.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from geodns.answer.resolve import Answer, Item, refusal
from geodns.dns.compress import Compressor
from geodns.dns.edns import ExtendedError, encode_opt
from geodns.dns.rcode import FORMERR, SERVFAIL
from geodns.dns.wire import (
    FLAG_AA,
    FLAG_CD,
    FLAG_QR,
    FLAG_RD,
    FLAG_TC,
    OPCODE_MASK,
    FormError,
    Query,
)
from geodns.dns.zone import RRset, name_end
from geodns.dnssec.signed import PoolSignatures
from geodns.pools.compile import CompiledMember
from geodns.pools.draw import Draw

HEADER = struct.Struct("!HHHHHH")
COUNTS = struct.Struct("!HHHH")
COPIED_FLAGS = OPCODE_MASK | FLAG_RD | FLAG_CD  # RFC 1035 §4.1.1: opcode, RD; RFC 6840 §5.9: CD
QUESTION_OFFSET = 12
OPT_FIXED = 11  # an OPT record before its RDATA: root name, TYPE, CLASS, TTL, RDLENGTH


@dataclass(frozen=True, slots=True)
class Reply:
    """A compiled reply: render(id, rng) gives its bytes.

    head: flags, counts, question and the answer records before the draw (no ID).
    draw: the pool's draw, None when every byte is fixed.
    records: every pool member's record as it sits in this reply, by member index.
    tail: authority, additional and OPT.
    fits: False when the content did not fit the limit and this is the TC form.
    signatures: for a DO query in a signed zone, the drawn records' RRSIGs by the set of
    members drawn (signed on first use), written after them under signed_owner.
    """

    head: bytes
    tail: bytes
    draw: Draw | None = None
    records: tuple[bytes, ...] = ()
    fits: bool = True
    signatures: PoolSignatures | None = None
    signed_owner: bytes = b""  # the drawn records' owner as written: a pointer
    opt_rdata: int = -1  # the OPT's RDATA size (the OPT ends every reply); -1: no OPT

    @property
    def fixed(self) -> bytes | None:
        """Everything after the ID when no byte depends on a draw, else None."""
        return self.head + self.tail if self.draw is None else None

    def render(self, qid: bytes, rng: random.Random) -> bytes:
        if self.draw is None:
            return qid + self.head + self.tail
        return self.assemble(qid, self.draw(rng))

    def assemble(self, qid: bytes, members: Sequence[CompiledMember]) -> bytes:
        """The reply with these members drawn (explain draws itself, to show them)."""
        records = self.records
        drawn = [records[m.index] for m in members]
        signatures = self.signatures
        if signatures is not None:
            drawn += signatures.records(members, self.signed_owner)
        return b"".join((qid, self.head, *drawn, self.tail))


class _Writer:
    """Writes records front to back, compressing names against what is already written."""

    __slots__ = ("names", "offset")

    def __init__(self, query: Query) -> None:
        self.names = Compressor()
        # RFC 1035 §4.1.4: the question name, in the client's case (0x20), is the first target
        self.names.remember(query.question[:-4], QUESTION_OFFSET)
        self.offset = QUESTION_OFFSET + len(query.question)

    def section(self, items: list[Item]) -> list[tuple[bytes, int]]:
        """Each item's records as written here, with its record count."""
        return [self.rrset(owner, rrset) for owner, rrset in items]

    def rrset(self, owner: bytes, rrset: RRset) -> tuple[bytes, int]:
        names = self.names
        records = []
        for i, tail in enumerate(rrset.tails):
            owner_bytes = names.encode(owner, self.offset)
            if rrset.names_at and rrset.names_at[i]:
                rdata_at = self.offset + len(owner_bytes) + 10  # after TYPE CLASS TTL RDLENGTH
                rdata = self._rdata(rrset.rdatas[i], rrset.names_at[i], rdata_at)
                record = owner_bytes + tail[:8] + len(rdata).to_bytes(2, "big") + rdata
            else:
                record = owner_bytes + tail
            records.append(record)
            self.offset += len(record)
        return b"".join(records), len(records)

    def _rdata(self, rdata: bytes, names_at: tuple[int, ...], offset: int) -> bytes:
        out = bytearray()
        position = 0
        for start in names_at:
            out += rdata[position:start]
            end = name_end(rdata, start)
            out += self.names.encode(rdata[start:end], offset + len(out))
            position = end
        out += rdata[position:]
        return bytes(out)


def compile_reply(query: Query, answer: Answer, limit: int) -> Reply:
    """The reply to query, at most limit bytes: the TC form when the answer cannot fit."""
    flags = FLAG_QR | (query.flags & COPIED_FLAGS) | (answer.rcode & 0xF)
    if answer.aa:
        flags |= FLAG_AA
    opt = b""
    if query.edns is not None:
        opt = encode_opt(query.edns, answer.rcode >> 4, answer.scope_prefix, answer.extended_error)
    opt_size = len(opt) - OPT_FIXED if opt else -1
    writer = _Writer(query)
    answers = writer.section(answer.answer)
    ancount = sum(count for _, count in answers)

    draw: Draw | None = None
    records: tuple[bytes, ...] = ()
    owner = b""
    signatures = answer.pool_signatures
    prepared, pool = answer.prepared, answer.pool
    if prepared is not None and pool is not None and prepared.draw.size:
        draw = prepared.draw
        # every drawn record is owned by the pool name, already in the message (the question
        # or a CNAME's target): one pointer, the same bytes whichever members are drawn
        owner = writer.names.encode(answer.pool_owner, writer.offset)
        records = tuple(owner + m.tail for m in pool.members)
        writer.offset += draw.size * len(records[draw.members[0].index])
        ancount += draw.size
        if signatures is not None:
            # one RRSIG per signing key, each of a known length whatever is drawn
            writer.offset += signatures.count * (len(owner) + signatures.tail_size)
            ancount += signatures.count
    else:
        signatures = None
    authority = writer.section(answer.authority)
    additional = writer.section(answer.additional)

    size = writer.offset + len(opt)
    keep = len(additional)
    # RFC 2181 §9: leaving out optional additional RRsets does not set TC; RFC 9471 §3:
    # in-domain glue is not optional. Names written earlier never point into later records.
    while size > limit and keep > answer.required_additional:
        keep -= 1
        size -= len(additional[keep][0])
    if size > limit:
        return _truncated(query, flags, opt, opt_size)
    additional = additional[:keep]
    counts = COUNTS.pack(
        1,
        ancount,
        sum(count for _, count in authority),
        sum(count for _, count in additional) + (1 if opt else 0),
    )
    head = b"".join((flags.to_bytes(2, "big"), counts, query.question, *[b for b, _ in answers]))
    tail = b"".join((*[b for b, _ in authority], *[b for b, _ in additional], opt))
    return Reply(
        head, tail, draw, records, signatures=signatures, signed_owner=owner, opt_rdata=opt_size
    )


def _truncated(query: Query, flags: int, opt: bytes, opt_size: int) -> Reply:
    """RFC 1035 §4.2.1, RFC 7766 §5: the header (and OPT) with TC; the client retries over
    TCP. No partial RRsets (RFC 2181 §9)."""
    counts = COUNTS.pack(1, 0, 0, 1 if opt else 0)
    head = (flags | FLAG_TC).to_bytes(2, "big") + counts + query.question
    return Reply(head, opt, fits=False, opt_rdata=opt_size)


def error_reply(query: Query, rcode: int, extended_error: ExtendedError | None = None) -> Reply:
    """A reply with no records: REFUSED, NOTIMP, SERVFAIL, BADCOOKIE... with the question
    and OPT (and the Extended DNS Error, RFC 8914, when the query had EDNS)."""
    return compile_reply(query, refusal(rcode, extended_error), 65535)


def encode_error(query: Query, rcode: int, extended_error: ExtendedError | None = None) -> bytes:
    reply = error_reply(query, rcode, extended_error)
    return query.id.to_bytes(2, "big") + reply.head + reply.tail


def encode_servfail(query: Query) -> bytes:
    return encode_error(query, SERVFAIL)


def cookie_only_reply(error: FormError, rcode: int) -> tuple[bytes, int]:
    """RFC 7873 §5.4: the reply to a query with no question and a COOKIE: no sections but
    the OPT (the caller appends the COOKIE option), with rcode; and the OPT's RDATA size."""
    assert error.header is not None and error.edns is not None
    qid, query_flags = error.header
    flags = FLAG_QR | (query_flags & COPIED_FLAGS) | (rcode & 0xF)
    opt = encode_opt(error.edns, rcode >> 4, None)
    return HEADER.pack(qid, flags, 0, 0, 0, 1) + opt, len(opt) - OPT_FIXED


def encode_formerr(error: FormError) -> bytes | None:
    """FORMERR with the question echoed when it was readable; None when there is no header.

    When the query's OPT record was well formed and only an option in it was not (a
    malformed Client Subnet), the reply carries an OPT too (RFC 6891 §7), without the
    option it could not read.
    """
    if error.header is None:
        return None
    qid, query_flags = error.header
    flags = FLAG_QR | (query_flags & COPIED_FLAGS) | FORMERR
    question = error.question or b""
    opt = b"" if error.edns is None else encode_opt(error.edns, 0, None)
    counts = HEADER.pack(qid, flags, 1 if question else 0, 0, 0, 1 if opt else 0)
    return counts + question + opt
