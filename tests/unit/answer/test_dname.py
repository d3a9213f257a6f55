"""DNAME redirection in resolve() (RFC 6672 §3.2) over tests/data/serve, and the zone tree's
part: lookup() finds the DNAME above a name, placement refuses a pool below one."""

from __future__ import annotations

from pathlib import Path

import dns.message
import pytest

from geodns.answer.context import QueryContext, Transport
from geodns.answer.resolve import MAX_CNAME_CHAIN, Kind, resolve
from geodns.dns import names, rcode, rdatatype
from geodns.dns.wire import decode_query
from geodns.dns.zone import Found, placement_problem
from geodns.dns.zonefile import load_zone_dir, parse_zone_text
from geodns.pools.model import HealthView
from geodns.pools_file import load_pools_file
from geodns.snapshot import Snapshot, build_snapshot

DATA = Path(__file__).resolve().parents[2] / "data"
LONG_TARGET = f"{'a' * 63}.{'b' * 63}.other.test."


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    zones = load_zone_dir(DATA / "serve").zones
    pools = load_pools_file(DATA / "pools" / "example.test.yaml")
    return build_snapshot(1, zones, pools, HealthView(), None)


def ask(snapshot: Snapshot, name: str, rdtype: str):
    wire = dns.message.make_query(name, rdtype).to_wire()
    return resolve(QueryContext(decode_query(wire), "192.0.2.1", Transport.UDP), snapshot)


def listed(items) -> list[tuple[str, str, str]]:
    """(owner, type, first rdata as text) of each item."""
    out = []
    for owner, rrset in items:
        rdata = names.to_text(rrset.rdatas[0]) if rrset.rtype in (5, 39) else ""
        out.append((names.to_text(owner), rdatatype.to_text(rrset.rtype), rdata))
    return out


def test_a_name_below_a_dname_gets_the_dname_a_synthesised_cname_and_the_chase_rfc6672_3_2(
    snapshot,
):
    answer = ask(snapshot, "WWW.Moved.example.test.", "A")
    assert answer.rcode == rcode.NOERROR and answer.aa and answer.kind is Kind.POSITIVE
    assert listed(answer.answer) == [
        ("moved.example.test.", "DNAME", "other.test."),
        ("www.moved.example.test.", "CNAME", "www.other.test."),
        ("www.other.test.", "A", ""),
    ]
    dname, cname = answer.answer[0][1], answer.answer[1][1]
    assert cname.ttl == dname.ttl == 3600  # RFC 6672 §3.1: the DNAME's TTL
    assert cname.synthesised and not dname.synthesised


def test_a_deep_name_keeps_every_label_above_the_owner_in_the_substitution_rfc6672_2_2(
    snapshot,
):
    answer = ask(snapshot, "b.c.ent.inner.example.test.", "TXT")
    assert listed(answer.answer)[:2] == [
        ("inner.example.test.", "DNAME", "example.test."),
        ("b.c.ent.inner.example.test.", "CNAME", "b.c.ent.example.test."),
    ]
    # the substituted name is an empty non-terminal of this zone: NODATA with its SOA
    assert answer.kind is Kind.NODATA and answer.rcode == rcode.NOERROR
    assert listed(answer.authority) == [("example.test.", "SOA", "")]


def test_a_missing_target_is_nxdomain_for_the_last_name_rfc6604_3(snapshot):
    answer = ask(snapshot, "nothing.moved.example.test.", "A")
    assert answer.rcode == rcode.NXDOMAIN and answer.kind is Kind.NXDOMAIN
    assert [t for _, t, _ in listed(answer.answer)] == ["DNAME", "CNAME"]
    assert listed(answer.authority) == [("other.test.", "SOA", "")]


def test_a_target_outside_our_zones_ends_the_answer_at_the_cname_rfc6672_3_2(snapshot):
    answer = ask(snapshot, "x.away.example.test.", "A")
    assert answer.rcode == rcode.NOERROR and answer.aa
    assert listed(answer.answer) == [
        ("away.example.test.", "DNAME", "elsewhere.invalid."),
        ("x.away.example.test.", "CNAME", "x.elsewhere.invalid."),
    ]


def test_the_dname_owner_itself_is_ordinary_data_rfc6672_2_3(snapshot):
    assert listed(ask(snapshot, "moved.example.test.", "DNAME").answer) == [
        ("moved.example.test.", "DNAME", "other.test.")
    ]
    assert listed(ask(snapshot, "moved.example.test.", "TXT").answer) == [
        ("moved.example.test.", "TXT", "")
    ]
    nodata = ask(snapshot, "moved.example.test.", "A")
    assert nodata.kind is Kind.NODATA and nodata.answer == []


def test_dnames_redirecting_into_each_other_stop_at_the_loop_like_cnames(snapshot):
    answer = ask(snapshot, "x.ping.example.test.", "A")
    assert answer.rcode == rcode.NOERROR
    assert listed(answer.answer) == [
        ("ping.example.test.", "DNAME", "pong.example.test."),
        ("x.ping.example.test.", "CNAME", "x.pong.example.test."),
        ("pong.example.test.", "DNAME", "ping.example.test."),
        ("x.pong.example.test.", "CNAME", "x.ping.example.test."),
    ]


def test_a_growing_redirection_stops_at_the_chain_limit():
    zone = parse_zone_text(
        "$ORIGIN grow.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
        "d DNAME d.d.grow.test.\n",
        origin=None,
        source="grow.zone",
        include_root=None,
    )
    snapshot = build_snapshot(1, {zone.origin: zone}, [], HealthView(), None)
    answer = ask(snapshot, "x.d.grow.test.", "A")
    # each hop adds a label; eight hops (two records each) stay well under 255 octets
    assert len(answer.answer) == 2 * (MAX_CNAME_CHAIN + 1)
    assert answer.rcode == rcode.NOERROR


def test_a_substitution_longer_than_255_octets_is_yxdomain_with_the_dname_rfc6672_2_2(
    snapshot,
):
    qname = f"{'c' * 63}.{'d' * 63}.long.example.test."  # 147 octets; the result would be 268
    answer = ask(snapshot, qname, "A")
    assert answer.rcode == rcode.YXDOMAIN and answer.aa
    assert listed(answer.answer) == [("long.example.test.", "DNAME", LONG_TARGET)]
    fits = ask(snapshot, f"{'c' * 63}.long.example.test.", "A")  # 204 octets: a name
    assert fits.rcode == rcode.NXDOMAIN and len(fits.answer) == 2


def test_lookup_finds_the_dname_above_the_name_but_not_at_it(snapshot):
    zone = snapshot.zones[names.from_text("example.test.")]
    below = zone.lookup(names.from_text("a.b.moved.example.test."), rdatatype.A)
    assert below.found is Found.DNAME and below.node is not None
    assert below.node.name == names.from_text("moved.example.test.")
    at = zone.lookup(names.from_text("moved.example.test."), rdatatype.A)
    assert at.found is Found.EXACT


def test_a_dname_at_the_apex_redirects_every_name_below_it_rfc6672_3_2():
    zone = parse_zone_text(
        "$ORIGIN old.test.\n$TTL 60\n@ SOA ns.new.test. h 1 2 3 4 5\n@ NS ns.new.test.\n"
        "@ DNAME new.test.\n",
        origin=None,
        source="old.zone",
        include_root=None,
    )
    snapshot = build_snapshot(1, {zone.origin: zone}, [], HealthView(), None)
    answer = ask(snapshot, "www.old.test.", "A")
    assert listed(answer.answer) == [
        ("old.test.", "DNAME", "new.test."),
        ("www.old.test.", "CNAME", "www.new.test."),
    ]
    assert ask(snapshot, "old.test.", "SOA").kind is Kind.POSITIVE


def test_a_pool_below_a_dname_cannot_be_placed_rfc6672_2_4(snapshot):
    zone = snapshot.zones[names.from_text("example.test.")]
    why = placement_problem(zone, names.from_text("www.moved.example.test."))
    assert why == "below the DNAME at moved.example.test. (RFC 6672 §2.4)"
    assert placement_problem(zone, names.from_text("moved.example.test.")) is None
