"""The immutable zone (geodns.dns.zone): the name tree build_zone() makes and lookup()'s
RFC 1034 §4.3.2 step 3 over it, built from RRsets whose bytes dnspython made."""

from __future__ import annotations

import io

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from geodns.dns import names, rdatatype
from geodns.dns.zone import (
    Found,
    RRset,
    Zone,
    build_zone,
    compressible_names,
    containing_zone,
    placement_problem,
)

ORIGIN = names.from_text("example.test.")
SOA_TEXT = "ns1.example.test. hostmaster.example.test. 2026120301 7200 3600 1209600 300"


def rdata(rtype: str, text: str) -> bytes:
    """Uncompressed wire RDATA, as dnspython writes it."""
    return dns.rdata.from_text("IN", rtype, text).to_wire()


def rrset(owner: str, rtype: str, *texts: str, ttl: int = 3600) -> RRset:
    code = dns.rdatatype.from_text(rtype)
    return RRset(names.from_text(owner), code, ttl, tuple(rdata(rtype, t) for t in texts))


def zone_of(*extra: RRset, soa_ttl: int = 3600) -> Zone:
    apex = [
        rrset("example.test.", "SOA", SOA_TEXT, ttl=soa_ttl),
        rrset("example.test.", "NS", "ns1.example.test."),
        rrset("ns1.example.test.", "A", "192.0.2.53"),
    ]
    return build_zone(ORIGIN, [*apex, *extra], "t.zone")


def found(zone: Zone, name: str, rtype: int = rdatatype.A) -> tuple[Found, str | None]:
    result = zone.lookup(names.from_text(name), rtype)
    return result.found, None if result.node is None else names.to_text(result.node.name)


def test_an_rrset_s_tails_are_what_dnspython_writes_after_the_owner_rfc1035_s4_1_3():
    ours = rrset("www.example.test.", "A", "192.0.2.1", "192.0.2.2", ttl=300)
    reference = dns.rrset.from_text("www.example.test.", 300, "IN", "A", "192.0.2.1", "192.0.2.2")
    owner = len(dns.name.from_text("www.example.test.").to_wire())
    for tail, rd in zip(ours.tails, reference, strict=True):
        one = io.BytesIO()
        dns.rrset.from_rdata("www.example.test.", 300, rd).to_wire(one)
        assert tail == one.getvalue()[owner:]
    assert len(ours) == 2 and ours.names_at == ()


@pytest.mark.parametrize(
    ("rtype", "text", "offsets"),
    [
        ("NS", "ns1.example.test.", (0,)),
        ("CNAME", "www.example.test.", (0,)),
        ("PTR", "www.example.test.", (0,)),
        ("MX", "10 mail.example.test.", (2,)),
        ("SOA", SOA_TEXT, (0, len(names.from_text("ns1.example.test.")))),
        ("SRV", "0 5 443 www.example.test.", ()),  # RFC 2782: never compressed
        ("DNAME", "example.net.", ()),  # RFC 6672 §2.1
        ("A", "192.0.2.1", ()),
    ],
    ids=["ns", "cname", "ptr", "mx", "soa", "srv", "dname", "a"],
)
def test_only_rfc1035_types_have_names_a_reply_may_compress_rfc3597_s4(rtype, text, offsets):
    code = dns.rdatatype.from_text(rtype)
    assert compressible_names(code, rdata(rtype, text)) == offsets


def test_ttl_and_owner_changes_keep_the_records():
    original = rrset("a.example.test.", "MX", "10 mail.example.test.")
    shorter = original.with_ttl(60)
    assert (shorter.ttl, shorter.rdatas, shorter.names_at) == (60, original.rdatas, ((2,),))
    moved = original.renamed(names.from_text("b.example.test."))
    assert (names.to_text(moved.name), moved.rdatas) == ("b.example.test.", original.rdatas)


def test_the_serial_and_the_negative_answer_soa_ttl_rfc2308_s3():
    zone = zone_of()
    assert zone.serial == 2026120301
    assert zone.negative_soa.ttl == 300  # min(SOA TTL 3600, MINIMUM 300)
    assert zone_of(soa_ttl=60).negative_soa.ttl == 60  # min(60, 300)
    assert zone.record_count() == 3
    assert zone.origin_text == "example.test." and zone.source == "t.zone"


def test_names_between_the_apex_and_an_owner_are_empty_non_terminals_rfc4592_s2_2_2():
    zone = zone_of(rrset("a.b.c.example.test.", "A", "192.0.2.1"))
    for between in ("b.c.example.test.", "c.example.test."):
        assert zone.nodes[names.from_text(between)].rrsets == {}
    # an empty non-terminal exists: NODATA, never NXDOMAIN (RFC 8020)
    assert found(zone, "c.example.test.") == (Found.EXACT, "c.example.test.")
    assert found(zone, "x.example.test.") == (Found.NXDOMAIN, None)


def test_a_wildcard_answers_below_the_closest_encloser_only_rfc4592_s3_3_1():
    zone = zone_of(
        rrset("*.example.test.", "A", "192.0.2.9"),
        rrset("host.sub.example.test.", "A", "192.0.2.10"),
    )
    assert found(zone, "anything.example.test.") == (Found.WILDCARD, "*.example.test.")
    assert found(zone, "a.b.example.test.") == (Found.WILDCARD, "*.example.test.")
    assert found(zone, "ns1.example.test.") == (Found.EXACT, "ns1.example.test.")
    # sub exists (empty non-terminal): it is the closest encloser, with no *.sub below it
    assert found(zone, "other.sub.example.test.") == (Found.NXDOMAIN, None)
    assert found(zone, "sub.example.test.") == (Found.EXACT, "sub.example.test.")


def test_a_zone_cut_refers_at_and_below_it_but_ds_is_the_parent_s_rfc4035_s3_1_4_1():
    zone = zone_of(
        rrset("child.example.test.", "NS", "ns.child.example.test."),
        rrset("ns.child.example.test.", "A", "192.0.2.77"),  # glue
    )
    assert zone.cuts == frozenset({names.from_text("child.example.test.")})
    assert found(zone, "www.child.example.test.") == (Found.DELEGATION, "child.example.test.")
    assert found(zone, "ns.child.example.test.") == (Found.DELEGATION, "child.example.test.")
    assert found(zone, "child.example.test.") == (Found.DELEGATION, "child.example.test.")
    assert found(zone, "child.example.test.", rdatatype.DS) == (Found.EXACT, "child.example.test.")


def test_a_dname_redirects_the_names_below_its_owner_not_the_owner_rfc6672_s3_2():
    zone = zone_of(rrset("old.example.test.", "DNAME", "new.example.net."))
    assert zone.dnames == frozenset({names.from_text("old.example.test.")})
    assert found(zone, "www.old.example.test.") == (Found.DNAME, "old.example.test.")
    assert found(zone, "a.b.old.example.test.") == (Found.DNAME, "old.example.test.")
    assert found(zone, "old.example.test.") == (Found.EXACT, "old.example.test.")


def test_a_dname_at_the_apex_redirects_every_other_name_rfc6672_s3_2():
    zone = zone_of(rrset("example.test.", "DNAME", "example.net."))
    assert found(zone, "www.example.test.") == (Found.DNAME, "example.test.")
    assert found(zone, "example.test.", rdatatype.SOA) == (Found.EXACT, "example.test.")


def test_the_containing_zone_is_the_closest_enclosing_origin():
    parent = zone_of(rrset("child.example.test.", "NS", "ns.other.test."))
    child_origin = names.from_text("child.example.test.")
    child = build_zone(
        child_origin,
        [
            rrset("child.example.test.", "SOA", SOA_TEXT),
            rrset("child.example.test.", "NS", "ns.other.test."),
        ],
    )
    zones = {ORIGIN: parent, child_origin: child}
    assert containing_zone(zones, names.from_text("www.child.example.test.")) is child
    assert containing_zone(zones, names.from_text("www.example.test.")) is parent
    assert containing_zone(zones, ORIGIN) is parent
    assert containing_zone(zones, names.from_text("example.net.")) is None


def test_a_pool_name_cannot_sit_on_a_cname_below_a_cut_or_below_a_dname():
    zone = zone_of(
        rrset("alias.example.test.", "CNAME", "www.example.test."),
        rrset("child.example.test.", "NS", "ns.other.test."),
        rrset("old.example.test.", "DNAME", "new.example.net."),
    )

    def problem(name: str) -> str | None:
        return placement_problem(zone, names.from_text(name))

    assert problem("alias.example.test.") == (
        "the zone file has a CNAME at this name (RFC 1034 §3.6.2)"
    )
    assert problem("www.child.example.test.") == "below the delegation child.example.test."
    assert problem("www.old.example.test.") == (
        "below the DNAME at old.example.test. (RFC 6672 §2.4)"
    )
    assert problem("old.example.test.") is None  # the owner itself may have addresses
    assert problem("www.example.test.") is None
