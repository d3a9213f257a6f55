"""Answer -> reply bytes, from precomputed record bytes; truncation and the OPT record.

Pure: no I/O. Records owned by the question name are written with a compression
pointer to it (offset 12), which also keeps the client's 0x20 case in the answer.
"""

from __future__ import annotations

import struct

from geodns.dns.authority import FORMERR, SERVFAIL, Answer, Item
from geodns.dns.edns import encode_opt
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

HEADER = struct.Struct("!HHHHHH")
POINTER_TO_QUESTION = b"\xc0\x0c"
COPIED_FLAGS = OPCODE_MASK | FLAG_RD | FLAG_CD  # RFC 1035 §4.1.1: opcode, RD; RFC 6840 §5.9: CD


def encode_section(items: list[Item], qname: bytes) -> tuple[bytes, int]:
    parts: list[bytes] = []
    count = 0
    for owner, tails in items:
        prefix = POINTER_TO_QUESTION if owner == qname else owner
        for tail in tails:
            parts.append(prefix)
            parts.append(tail)
        count += len(tails)
    return b"".join(parts), count


def encode_answer(query: Query, answer: Answer, limit: int) -> bytes:
    """The reply to query, at most limit bytes: TC set when the answer cannot fit."""
    qname = query.qname
    flags = FLAG_QR | (query.flags & COPIED_FLAGS) | (answer.rcode & 0xF)
    if answer.aa:
        flags |= FLAG_AA
    opt = b""
    if query.edns is not None:
        opt = encode_opt(query.edns, answer.rcode >> 4, answer.scope_prefix)
    an, ancount = encode_section(answer.answer, qname) if answer.answer else (b"", 0)
    ns, nscount = encode_section(answer.authority, qname) if answer.authority else (b"", 0)
    additional = answer.additional
    ar, arcount = encode_section(additional, qname) if additional else (b"", 0)
    size = 12 + len(query.question) + len(an) + len(ns) + len(ar) + len(opt)
    if size > limit:
        # RFC 2181 §9: dropping optional additional data does not set TC; RFC 9471 §3:
        # in-domain glue is not optional
        keep = len(additional)
        while size > limit and keep > answer.required_additional:
            keep -= 1
            ar, arcount = encode_section(additional[:keep], qname)
            size = 12 + len(query.question) + len(an) + len(ns) + len(ar) + len(opt)
        if size > limit:
            # RFC 1035 §4.2.1, RFC 7766 §5: send the header (and OPT) with TC, the client retries
            # over TCP
            flags |= FLAG_TC
            an = ns = ar = b""
            ancount = nscount = arcount = 0
    header = HEADER.pack(query.id, flags, 1, ancount, nscount, arcount + (1 if opt else 0))
    return b"".join((header, query.question, an, ns, ar, opt))


def encode_error(query: Query, rcode: int) -> bytes:
    """A reply with no records: REFUSED, NOTIMP, SERVFAIL... with the question and OPT."""
    return encode_answer(query, Answer(rcode=rcode, aa=False), 65535)


def encode_servfail(query: Query) -> bytes:
    return encode_error(query, SERVFAIL)


def encode_formerr(error: FormError) -> bytes | None:
    """FORMERR with the question echoed when it was readable; None when there is no header."""
    if error.header is None:
        return None
    qid, query_flags = error.header
    flags = FLAG_QR | (query_flags & COPIED_FLAGS) | FORMERR
    question = error.question or b""
    return HEADER.pack(qid, flags, 1 if question else 0, 0, 0, 0) + question
