"""DNAME redirection (RFC 6672) from a running geodns over real UDP and TCP, on each data
plane: the DNAME, the synthesised CNAME, the chase, YXDOMAIN, and the owner's own data."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

pytestmark = pytest.mark.e2e
TRANSPORTS = pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])


def section(reply: dns.message.Message) -> list[tuple[str, str, int, str]]:
    return [
        (r.name.to_text().lower(), dns.rdatatype.to_text(r.rdtype), r.ttl, rd.to_text().lower())
        for r in reply.answer
        for rd in r
    ]


@TRANSPORTS
def test_below_a_dname_come_the_dname_a_synthesised_cname_and_the_chase_rfc6672_3_2(
    geodns_server, tcp
):
    reply = geodns_server.query("WwW.mOvEd.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert section(reply) == [
        ("moved.example.test.", "DNAME", 3600, "other.test."),
        # RFC 6672 §3.1: owned by the query name, the DNAME's TTL
        ("www.moved.example.test.", "CNAME", 3600, "www.other.test."),
        ("www.other.test.", "A", 300, "192.0.2.200"),
    ]
    # the owner of the synthesised CNAME is the question name, in the client's case
    assert reply.answer[1].name.to_text() == "WwW.mOvEd.example.test."


@TRANSPORTS
def test_the_rcode_describes_the_last_name_of_the_redirection_rfc6604_3(geodns_server, tcp):
    nodata = geodns_server.query("c.ent.inner.example.test.", "A", tcp=tcp)
    assert nodata.rcode() == dns.rcode.NOERROR  # c.ent.example.test.: an empty non-terminal
    assert section(nodata) == [
        ("inner.example.test.", "DNAME", 3600, "example.test."),
        ("c.ent.inner.example.test.", "CNAME", 3600, "c.ent.example.test."),
    ]
    assert [r.rdtype for r in nodata.authority] == [dns.rdatatype.SOA]
    missing = geodns_server.query("nothing.moved.example.test.", "A", tcp=tcp)
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert [r.name.to_text() for r in missing.authority] == ["other.test."]


@TRANSPORTS
def test_the_dname_owner_answers_its_own_data_rfc6672_2_3(geodns_server, tcp):
    reply = geodns_server.query("moved.example.test.", "TXT", tcp=tcp)
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.TXT]
    reply = geodns_server.query("moved.example.test.", "DNAME", tcp=tcp)
    assert section(reply) == [("moved.example.test.", "DNAME", 3600, "other.test.")]


@TRANSPORTS
def test_a_target_outside_our_zones_is_left_to_the_resolver(geodns_server, tcp):
    reply = geodns_server.query("x.away.example.test.", "AAAA", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r for _, r, _, _ in section(reply)] == ["DNAME", "CNAME"]


@TRANSPORTS
def test_a_substitution_past_255_octets_is_yxdomain_rfc6672_2_2(geodns_server, tcp):
    reply = geodns_server.query(f"{'c' * 63}.{'d' * 63}.long.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.YXDOMAIN and reply.flags & dns.flags.AA
    assert [r for _, r, _, _ in section(reply)] == ["DNAME"]


@TRANSPORTS
def test_dnames_into_each_other_stop_at_the_loop(geodns_server, tcp):
    reply = geodns_server.query("x.ping.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r for _, r, _, _ in section(reply)] == ["DNAME", "CNAME", "DNAME", "CNAME"]
