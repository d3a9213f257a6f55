"""RFC 1034 §4.3.2 step 3a at a CNAME owner and AA through a CNAME into a delegation, from a
running geodns over real UDP and TCP on each data plane."""

from __future__ import annotations

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

pytestmark = pytest.mark.e2e
TRANSPORTS = pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])


@TRANSPORTS
@pytest.mark.parametrize("qtype", ["ANY", "CNAME"])
def test_any_or_cname_at_a_cname_owner_is_the_cname_unchased_rfc1034_4_3_2_step_3a(
    geodns_server, tcp, qtype
):
    for name in ("chain1.example.test.", "dangling.example.test."):
        reply = geodns_server.query(name, qtype, tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
        assert [(r.name.to_text(), r.rdtype) for r in reply.answer] == [(name, dns.rdatatype.CNAME)]
        assert reply.authority == []


@TRANSPORTS
def test_a_cname_into_our_delegation_is_authoritative_for_its_owner_rfc6604_2_1(geodns_server, tcp):
    reply = geodns_server.query("tochild.example.test.", "A", tcp=tcp)
    assert reply.flags & dns.flags.AA
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.CNAME]
    assert [r.name.to_text() for r in reply.authority] == ["child.example.test."]
    assert {r.name.to_text() for r in reply.additional} == {
        "ns1.child.example.test.",
        "ns2.child.example.test.",
    }
