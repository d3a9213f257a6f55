"""PoolSignatures, the compact store of a pool's RRSIGs by drawn set: one bytearray of
fixed-size slots and an index, bounded, and what it holds validates (dns.dnssec.validate)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import dns.message
import dns.name
import dns.rdatatype
from dnssec_checks import dnskeys, validate_message
from signed_world import ORIGIN, World, key_set, new_key

from geodns.answer.cache import CachingAnswerer
from geodns.answer.context import Transport
from geodns.dnssec import signed
from geodns.snapshot import SnapshotHolder, empty_snapshot

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
KEY = new_key()
MANY = dns.name.from_text("many.signed.test.")  # 40 members, 3 answers: 10,660 sets


def many_table(snapshot):
    return snapshot.signed[ORIGIN].pools[(MANY.to_wire(), dns.rdatatype.A)]


def test_a_full_table_reuses_its_oldest_slot_and_every_answer_still_validates(monkeypatch):
    monkeypatch.setattr(signed, "MAX_DRAWN_SETS", 8)
    snapshot = World({ORIGIN: key_set([KEY])}).build(NOW)
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(snapshot)
    answerer = CachingAnswerer(holder, random.Random(11))
    drawn = set()
    for i in range(40):
        query = dns.message.make_query(MANY, "A", use_edns=0, want_dnssec=True)
        query.id = i
        wire = answerer(query.to_wire(), "127.0.0.1", Transport.UDP)
        assert wire is not None
        reply = dns.message.from_wire(wire)
        good, unsigned = validate_message(reply, dnskeys(ORIGIN, [KEY]), NOW)
        assert good == [("many.signed.test.", "A")] and unsigned == []
        drawn.add(frozenset(r.to_text() for r in reply.answer[0]))
        table = many_table(snapshot)
        assert len(table.by_mask) <= 8
        assert len(table.blob) <= 8 * table.record_size  # slots reused, never appended
    assert len(drawn) > 8  # more sets than slots went through the table


def test_one_signature_slot_per_set_in_one_bytes_object():
    snapshot = World({ORIGIN: key_set([KEY])}).build(NOW)
    table = snapshot.signed[ORIGIN].pools[
        (dns.name.from_text("weighted.signed.test.").to_wire(), dns.rdatatype.A)
    ]
    slots = sorted(table.by_mask.values())
    assert slots == list(range(len(slots)))
    assert len(table.blob) == len(slots) * table.record_size
    assert table.record_size == table.count * table.tail_size
