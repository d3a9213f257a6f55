"""Three rules of RFC 1034 §4.3.2 and its updates in resolve(): a query that matches a
CNAME gets the CNAME (step 3a), AA follows the first owner of the answer (RFC 6604 §2.1),
and DS at a zone cut comes from the parent side (RFC 4035 §3.1.4.1)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from dnssec_checks import dnskeys, validate_message
from signed_world import ORIGIN, ZONES, World, key_set, new_key

from geodns.answer.context import QueryContext, Transport
from geodns.answer.packet import PacketAnswerer
from geodns.answer.resolve import Kind, resolve
from geodns.dns import names, rcode, rdatatype
from geodns.dns.wire import decode_query
from geodns.dns.zone import Zone
from geodns.dns.zonefile import load_zone_dir, parse_zone_text
from geodns.pools.model import HealthView
from geodns.pools_file import load_pools_file
from geodns.snapshot import Snapshot, SnapshotHolder, build_snapshot, empty_snapshot

DATA = Path(__file__).resolve().parents[2] / "data"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    zones = load_zone_dir(DATA / "serve").zones
    pools = load_pools_file(DATA / "pools" / "example.test.yaml")
    return build_snapshot(1, zones, pools, HealthView(), None)


def ask(snapshot: Snapshot, name: str, rdtype: str):
    wire = dns.message.make_query(name, rdtype).to_wire()
    return resolve(QueryContext(decode_query(wire), "192.0.2.1", Transport.UDP), snapshot)


def types(items) -> list[str]:
    return [rdatatype.to_text(rrset.rtype) for _, rrset in items]


@pytest.mark.parametrize("qtype", ["ANY", "CNAME", "NSEC", "RRSIG"])
def test_a_query_that_matches_the_cname_is_not_chased_rfc1034_4_3_2_step_3a(snapshot, qtype):
    answer = ask(snapshot, "chain1.example.test.", qtype)
    assert answer.rcode == rcode.NOERROR and answer.aa
    if qtype in ("ANY", "CNAME"):
        assert types(answer.answer) == ["CNAME"] and answer.kind is Kind.POSITIVE
    else:  # RFC 4035 §2.5: these types may stand beside a CNAME; none are stored here
        assert answer.answer == [] and answer.kind is Kind.NODATA


def test_any_at_a_dangling_cname_is_the_cname_not_nxdomain_rfc1034_4_3_2_step_3a(snapshot):
    answer = ask(snapshot, "dangling.example.test.", "ANY")
    assert (answer.rcode, types(answer.answer)) == (rcode.NOERROR, ["CNAME"])
    assert answer.authority == []


def test_a_cname_into_one_of_our_delegations_keeps_aa_rfc6604_2_1(snapshot):
    answer = ask(snapshot, "tochild.example.test.", "A")
    assert answer.aa  # the first owner, tochild, is ours (RFC 1035 §4.1.1)
    assert types(answer.answer) == ["CNAME"] and answer.kind is Kind.REFERRAL
    assert [names.to_text(o) for o, _ in answer.authority] == ["child.example.test."]
    referral = ask(snapshot, "www.child.example.test.", "A")
    assert not referral.aa  # a plain referral is not authoritative (RFC 1034 §4.3.2 step 3b)


def zone(text: str) -> Zone:
    return parse_zone_text(text, origin=None, source="t.zone", include_root=None)


PARENT = zone(
    "$ORIGIN p.test.\n$TTL 300\n@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\n"
    "kid NS ns\nkid DS 31589 13 2 8E3A0BC0CE0E7F4C1A8A7A7D0A1E2E7C3B0E1E2D3C4B5A6978877665\n"
    "nods NS ns\n"
)
KID = zone("$ORIGIN kid.p.test.\n$TTL 600\n@ SOA ns.p.test. h 7 2 3 4 120\n@ NS ns.p.test.\n")
NODS = zone("$ORIGIN nods.p.test.\n$TTL 600\n@ SOA ns.p.test. h 8 2 3 4 120\n@ NS ns.p.test.\n")


def served(*zones: Zone) -> Snapshot:
    return build_snapshot(1, {z.origin: z for z in zones}, [], HealthView(), None)


def test_ds_at_a_child_apex_is_the_parents_ds_when_we_serve_both_rfc4035_3_1_4_1():
    answer = ask(served(PARENT, KID, NODS), "kid.p.test.", "DS")
    assert (answer.rcode, answer.aa, types(answer.answer)) == (rcode.NOERROR, True, ["DS"])
    assert answer.zone is not None and answer.zone.origin == PARENT.origin


def test_no_ds_at_a_child_apex_is_the_parents_nodata_with_the_parents_soa_rfc4035_3_1_4_1():
    answer = ask(served(PARENT, KID, NODS), "nods.p.test.", "DS")
    assert answer.kind is Kind.NODATA and answer.aa
    [(owner, soa)] = answer.authority
    assert owner == PARENT.origin and soa.ttl == 60


def test_without_the_parent_ds_at_the_apex_is_the_childs_nodata_and_other_types_the_childs():
    alone = ask(served(KID), "kid.p.test.", "DS")
    assert alone.kind is Kind.NODATA and alone.authority[0][0] == KID.origin
    both = served(PARENT, KID)
    assert types(ask(both, "kid.p.test.", "SOA").answer) == ["SOA"]  # the child's own
    assert ask(both, "kid.p.test.", "SOA").answer[0][0] == KID.origin


def test_signed_parent_signs_the_ds_and_its_denial_at_a_served_child_rfc4035_3_1_4_1():
    key = new_key()
    world = World({ORIGIN: key_set([key])})
    children = {
        "secure.signed.test.": "$ORIGIN secure.signed.test.\n",
        "insecure.signed.test.": "$ORIGIN insecure.signed.test.\n",
    }
    zones = load_zone_dir(ZONES).zones
    for text in children.values():
        child = zone(text + "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.9\n")
        zones[child.origin] = child
    world.builder.set_zones(zones)
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(world.build(NOW))
    answerer = PacketAnswerer(holder, random.Random(7))
    keys = dnskeys(ORIGIN, [key])
    for name, signed in (
        ("secure.signed.test.", ("secure.signed.test.", "DS")),
        ("insecure.signed.test.", ("insecure.signed.test.", "NSEC")),
    ):
        query = dns.message.make_query(name, "DS", want_dnssec=True, payload=1232)
        reply = dns.message.from_wire(answerer(query.to_wire(), "127.0.0.1", Transport.UDP))
        assert reply.rcode() == dns.rcode.NOERROR
        good, unsigned = validate_message(reply, keys, NOW)  # the parent's key: it verifies
        assert signed in good and unsigned == [], reply
