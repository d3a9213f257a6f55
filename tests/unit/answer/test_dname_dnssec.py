"""A DNAME answer to a DO query (RFC 6672 §5.3.1): the DNAME carries its RRSIG, validated
with dns.dnssec.validate against the zone's DNSKEY; the synthesised CNAME carries none,
since a validator makes it from the DNAME itself."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from dnssec_checks import dnskeys, validate_message
from signed_world import ORIGIN, World, key_set, new_key

from geodns.answer.context import Transport
from geodns.answer.packet import PacketAnswerer
from geodns.snapshot import SnapshotHolder, empty_snapshot

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
KEY = new_key()
KEYS = dnskeys(ORIGIN, [KEY])


@pytest.fixture(scope="module")
def answerer() -> PacketAnswerer:
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(World({ORIGIN: key_set([KEY])}).build(NOW))
    return PacketAnswerer(holder, random.Random(7))


def ask(answerer: PacketAnswerer, name: str, rdtype: str, *, do: bool) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=do, payload=1232)
    wire = answerer(query.to_wire(), "127.0.0.1", Transport.UDP)
    assert wire is not None
    return dns.message.from_wire(wire)


def test_the_dname_is_signed_and_the_synthesised_cname_is_not_rfc6672_5_3_1(answerer):
    reply = ask(answerer, "www.moved.signed.test.", "A", do=True)
    assert reply.rcode() == dns.rcode.NOERROR
    good, unsigned = validate_message(reply, KEYS, NOW)
    assert good == [("moved.signed.test.", "DNAME"), ("www.signed.test.", "A")]
    assert unsigned == [("www.moved.signed.test.", "CNAME")]


def test_a_missing_target_below_a_signed_dname_is_denied_for_the_target(answerer):
    reply = ask(answerer, "nowhere.moved.signed.test.", "A", do=True)
    good, unsigned = validate_message(reply, KEYS, NOW)
    assert unsigned == [("nowhere.moved.signed.test.", "CNAME")]
    # compact denial (RFC 9824 §3) names the last name of the chain, not the query name
    assert ("nowhere.signed.test.", "NSEC") in good
    assert ("moved.signed.test.", "DNAME") in good


def test_without_do_the_dname_answer_has_no_rrsig(answerer):
    reply = ask(answerer, "www.moved.signed.test.", "A", do=False)
    types = [dns.rdatatype.to_text(r.rdtype) for r in reply.answer]
    assert types == ["DNAME", "CNAME", "A"]
