"""Signed pool draws in the C engine (issue 13): after its draw C appends the RRSIG of the
set it drew, from the sets Python signed; each reply is the bytes the Python reference
assembles for those members, and validates (dns.dnssec.validate); a set not signed yet
goes to Python, which signs it, and C serves it from then on; the engine refuses signed
parts it cannot keep.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import dns.message
import dns.name
import dns.rdatatype
import pytest
from dnssec_checks import dnskeys, validate_message
from signed_world import ORIGIN, World, key_set, new_key

from geodns.answer import _native
from geodns.answer.cache import CachingAnswerer, Drawn
from geodns.answer.context import Transport
from geodns.answer.native import NativeUdp
from geodns.snapshot import Snapshot, SnapshotHolder, empty_snapshot

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
KEY = new_key()
KEYS = dnskeys(ORIGIN, [KEY])
SEED = bytes(range(16))
DRAWN_POOLS = ["weighted.signed.test.", "rotate.signed.test.", "adaptive.signed.test."]


def signed_snapshot() -> Snapshot:
    return World({ORIGIN: key_set([KEY])}).build(NOW)


def holder_of(snapshot: Snapshot) -> SnapshotHolder:
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(snapshot)
    return holder


def do_query(name: str, rdtype: str = "A", qid: int = 7) -> bytes:
    query = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=True)
    query.id = qid
    return query.to_wire()


@pytest.mark.parametrize("pool", DRAWN_POOLS)
def test_c_appends_the_drawn_sets_rrsig_exactly_as_the_python_reply_assembles_it(pool):
    native = NativeUdp(CachingAnswerer(holder_of(signed_snapshot()), random.Random(1)), seed=SEED)
    first = native.answer(do_query(pool), "127.0.0.1")
    assert first is not None
    _, entry = native.cache.answer_entry(do_query(pool), "127.0.0.1", Transport.UDP)
    assert type(entry) is Drawn and entry.signed is not None
    hits_before, sets = native.counters()["hits"], set()
    for qid in range(200):
        wire = native.answer(do_query(pool, qid=qid), "127.0.0.1")
        assert wire is not None
        reply = dns.message.from_wire(wire)
        good, unsigned = validate_message(reply, KEYS, NOW)
        assert good == [(pool, "A")] and unsigned == []
        # the Python reference, given the members C drew, makes the same bytes
        addresses = [r.to_text() for r in reply.answer[0]]
        by_address = {m.member.address: m for m in entry.draw.members}
        drawn = [by_address[a] for a in addresses]
        assert wire == entry.signed.assemble(wire[:2], drawn)
        sets.add(frozenset(addresses))
    assert native.counters()["hits"] - hits_before == 200  # every one answered in C
    assert len(sets) > 1  # different draws, each with its own signature


def test_a_set_not_signed_yet_goes_to_python_once_then_c_serves_it():
    snapshot = signed_snapshot()
    table = snapshot.signed[ORIGIN].pools[
        (dns.name.from_text("weighted.signed.test.").to_wire(), dns.rdatatype.A)
    ]
    table.by_mask.clear()  # as if nothing had been signed ahead
    table.blob.clear()
    native = NativeUdp(CachingAnswerer(holder_of(snapshot), random.Random(2)), seed=SEED)

    def ask(qid: int) -> None:
        wire = native.answer(do_query("weighted.signed.test.", qid=qid), "127.0.0.1")
        assert wire is not None
        assert validate_message(dns.message.from_wire(wire), KEYS, NOW)[0]

    # a miss is answered by Python's own draw, which signs the set it drew: the C loop
    # hits more as the sets fill in (weighted, 2 of 4 IPv4 members: 6 sets)
    for qid in range(400):
        ask(qid)
        if len(table.by_mask) == 6:
            break
    assert len(table.by_mask) == 6 and native.counters()["hits"] > 0
    misses = native.counters()["misses"]
    for qid in range(200):
        ask(qid)
    assert native.counters()["misses"] == misses  # every set signed: C answers them all


def test_a_signed_draw_counts_its_members_once():
    native = NativeUdp(CachingAnswerer(holder_of(signed_snapshot()), random.Random(3)), seed=SEED)
    for qid in range(50):
        native.answer(do_query("weighted.signed.test.", qid=qid), "127.0.0.1")
    counted = sum(native.counters()["member_hits"])
    assert counted == 2 * (native.counters()["hits"])  # 2 members a C answer, never 4


HEAD, TAIL = b"h" * 12, b"t"
RECORDS = (b"a" * 16, b"b" * 16, b"c" * 16)


def drawn_spec(signed: object) -> tuple[object, ...]:
    """A weighted draw of 2 of RECORDS, member slots 0..2, with this signed part (then the
    RRL fields: key 0, category 0, no slip form)."""
    draw = (1, 1, 1), 2, _native.DRAW_WEIGHTED, 0, 0
    return (_native.DRAWN, -1, 0, HEAD, TAIL, RECORDS, *draw, (0, 1, 2), signed, 0, 0, None)


def kept(signed: object) -> bytes | None:
    """The second answer to one query whose first answer described this signed draw."""
    engine = _native.Engine(SEED, (1000,))
    spec = drawn_spec(signed)
    query = dns.message.make_query("pool.example.", "A").to_wire()  # real: the C walks it
    engine.answer(query, "127.0.0.1", lambda data, host: (b"\x00" * 12, spec))
    second: bytes | None = engine.answer(query, "127.0.0.1", lambda data, host: (b"python", None))
    return second


def test_the_engine_renders_a_kept_signed_draw_with_the_sets_records():
    every = (0b011, 0b101, 0b110)  # 2 of 3 positions, ascending
    signed = (every, b"".join(bytes([65 + i]) * 5 for i in range(3)), 5)
    reply = kept(signed)
    assert reply is not None and reply != b"python"
    middle = reply[2 + len(HEAD) : -len(TAIL)]
    records, sig = middle[:32], middle[32:]
    picked = {RECORDS.index(records[:16]), RECORDS.index(records[16:])}
    mask = sum(1 << p for p in picked)
    assert sig == bytes([65 + every.index(mask)]) * 5


def test_a_set_the_engine_does_not_hold_is_answered_by_python():
    assert kept(((0b111,), b"s" * 5, 5)) == b"python"  # 2 are drawn: never the mask 0b111


@pytest.mark.parametrize(
    "signed",
    [
        ((0b011, 0b001), b"s" * 10, 5),  # not ascending
        ((0b011, 0b011), b"s" * 10, 5),  # twice
        ((0b1000,), b"s" * 5, 5),  # a position the draw does not have
        ((0,), b"s" * 5, 5),  # the empty set
        ((0b011,), b"s" * 4, 5),  # records shorter than one set's
        ((0b011,), b"s" * 4050, 4050),  # more than a reply can hold
        ((0b011,), b"", 0),
        ((-1,), b"s" * 5, 5),
        ((0b011,), "s" * 5, 5),
        ((0b011,), b"s" * 5),
    ],
)
def test_the_engine_refuses_a_signed_part_it_cannot_keep(signed):
    engine = _native.Engine(SEED, (1000,))
    spec = drawn_spec(signed)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        engine.answer(
            dns.message.make_query("pool.example.", "A").to_wire(),
            "127.0.0.1",
            lambda data, host: (b"\x00" * 12, spec),
        )
