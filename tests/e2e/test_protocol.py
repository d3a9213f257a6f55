"""The authoritative answers of a running geodns, over real UDP and TCP sockets."""

from __future__ import annotations

import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

pytestmark = pytest.mark.e2e

SOA_TTL, SOA_MINIMUM = 3600, 300
TRANSPORTS = pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])


def rrset_texts(section: list, rdtype: str) -> set[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return {r.to_text() for rrset in section if rrset.rdtype == wanted for r in rrset}


def assert_negative_soa(reply: dns.message.Message) -> None:
    [soa] = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.name == dns.name.from_text("example.test.")
    assert soa.ttl == min(SOA_TTL, SOA_MINIMUM)  # RFC 2308 §3


@TRANSPORTS
def test_positive_answer_is_authoritative_with_ra_clear_rfc1035_4_1_1(geodns_server, tcp):
    reply = geodns_server.query("www.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert not reply.flags & dns.flags.RA
    assert rrset_texts(reply.answer, "A") == {"192.0.2.10"}
    assert reply.answer[0].ttl == 3600


@TRANSPORTS
@pytest.mark.parametrize("rd", [True, False], ids=["rd", "no-rd"])
def test_rd_is_copied_and_id_echoed_rfc1035_4_1_1(geodns_server, tcp, rd):
    query = dns.message.make_query("www.example.test.", "A")
    query.id = 0xBEEF
    if not rd:
        query.flags &= ~dns.flags.RD
    send = dns.query.tcp if tcp else dns.query.udp
    reply = send(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert reply.id == 0xBEEF
    assert bool(reply.flags & dns.flags.RD) == rd


@TRANSPORTS
def test_qname_case_is_echoed_for_0x20_rfc4343(geodns_server, tcp):
    query = dns.message.make_query("WwW.ExAmPlE.TeSt.", "A")
    send = dns.query.tcp if tcp else dns.query.udp
    raw = send(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert raw.question[0].name.to_text() == "WwW.ExAmPlE.TeSt."
    assert raw.answer[0].name.to_text() == "WwW.ExAmPlE.TeSt."


@TRANSPORTS
def test_nodata_has_soa_with_negative_ttl_rfc2308_2_2(geodns_server, tcp):
    reply = geodns_server.query("www.example.test.", "MX", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert reply.answer == []
    assert_negative_soa(reply)


@TRANSPORTS
def test_nxdomain_carries_soa_with_negative_ttl_rfc2308_3(geodns_server, tcp):
    reply = geodns_server.query("absent.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.flags & dns.flags.AA
    assert_negative_soa(reply)


@pytest.mark.parametrize(
    "qname",
    ["ent.example.test.", "c.ent.example.test.", "_tcp.example.test."],
    ids=["ent", "deeper-ent", "srv-parent"],
)
def test_empty_non_terminal_answers_nodata_not_nxdomain_rfc8020(geodns_server, qname):
    reply = geodns_server.query(qname, "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []
    assert_negative_soa(reply)


def test_unknown_type_at_existing_name_is_nodata_rfc3597(geodns_server):
    reply = geodns_server.query("example.test.", "TYPE666")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert_negative_soa(reply)


@TRANSPORTS
@pytest.mark.parametrize(
    "qname",
    ["example.com.", "www.example.org.", ".", "test."],
    ids=["other-zone", "other-tld", "root", "parent-of-zone"],
)
def test_names_outside_our_zones_are_refused_without_referral_rfc8906_3_1_4(
    geodns_server, tcp, qname
):
    reply = geodns_server.query(qname, "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA
    assert not reply.flags & dns.flags.RA
    assert reply.answer == reply.authority == reply.additional == []


@TRANSPORTS
def test_refusal_outside_our_zones_says_not_authoritative_with_edns_rfc8914_4_21(
    geodns_server, tcp
):
    reply = geodns_server.query("www.example.org.", "A", tcp=tcp, use_edns=0)
    assert reply.rcode() == dns.rcode.REFUSED
    assert [(type(o), o.code) for o in reply.options] == [
        (dns.edns.EDEOption, dns.edns.EDECode.NOT_AUTHORITATIVE)
    ]
    plain = geodns_server.query("www.example.org.", "A", tcp=tcp)
    assert plain.edns < 0  # no OPT without one in the query (RFC 6891 §7), so no EDE


def test_cname_is_returned_and_followed_inside_our_zone_rfc1034_4_3_2(geodns_server):
    reply = geodns_server.query("alias.example.test.", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert rrset_texts(reply.answer, "CNAME") == {"www.example.test."}
    assert rrset_texts(reply.answer, "A") == {"192.0.2.10"}
    assert [r.name.to_text() for r in reply.answer] == ["alias.example.test.", "www.example.test."]


def test_cname_query_returns_the_cname_itself_not_its_target(geodns_server):
    reply = geodns_server.query("alias.example.test.", "CNAME")
    assert rrset_texts(reply.answer, "CNAME") == {"www.example.test."}
    assert rrset_texts(reply.answer, "A") == set()


def test_cname_chain_is_followed_across_our_zones(geodns_server):
    reply = geodns_server.query("cross.example.test.", "A")
    assert rrset_texts(reply.answer, "A") == {"192.0.2.200"}
    chain = geodns_server.query("chain1.example.test.", "A")
    assert [r.name.to_text() for r in chain.answer] == [
        "chain1.example.test.",
        "chain2.example.test.",
        "www.example.test.",
    ]


def test_cname_loop_stops_and_answers_what_it_has(geodns_server):
    reply = geodns_server.query("loop1.example.test.", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.name.to_text() for r in reply.answer] == [
        "loop1.example.test.",
        "loop2.example.test.",
    ]


def test_cname_to_missing_name_answers_nxdomain_for_the_target_rfc6604_3(geodns_server):
    reply = geodns_server.query("dangling.example.test.", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert rrset_texts(reply.answer, "CNAME") == {"nothing-here.example.test."}
    assert_negative_soa(reply)


def test_cname_leaving_our_zones_is_not_chased(geodns_server):
    reply = geodns_server.query("outside.example.test.", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert rrset_texts(reply.answer, "CNAME") == {"www.elsewhere.invalid."}
    assert len(reply.answer) == 1


@TRANSPORTS
def test_wildcard_synthesises_the_queried_name_rfc4592_3_3(geodns_server, tcp):
    reply = geodns_server.query("anything.wild.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert reply.answer[0].name.to_text() == "anything.wild.example.test."
    assert rrset_texts(reply.answer, "A") == {"192.0.2.99"}
    several = geodns_server.query("a.b.wild.example.test.", "TXT")
    assert rrset_texts(several.answer, "TXT") == {'"wildcard"'}


def test_wildcard_other_type_is_nodata_rfc4592_2_2_1(geodns_server):
    reply = geodns_server.query("anything.wild.example.test.", "MX")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []
    assert_negative_soa(reply)


def test_existing_name_blocks_the_wildcard_rfc4592_2_2_1(geodns_server):
    reply = geodns_server.query("real.wild.example.test.", "TXT")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []  # the name exists: NODATA, no synthesis


def test_empty_non_terminal_blocks_the_wildcard_rfc4592_2_2_2(geodns_server):
    # ent.wild exists only as the parent of deep.ent.wild: it is the closest encloser
    ent = geodns_server.query("ent.wild.example.test.", "A")
    assert ent.rcode() == dns.rcode.NOERROR and ent.answer == []
    below = geodns_server.query("x.ent.wild.example.test.", "A")
    assert below.rcode() == dns.rcode.NXDOMAIN  # *.ent.wild does not exist; *.wild is not used


@TRANSPORTS
def test_below_a_zone_cut_gets_a_referral_with_glue_rfc1034_4_3_2(geodns_server, tcp):
    reply = geodns_server.query("www.child.example.test.", "A", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.flags & dns.flags.AA
    assert reply.answer == []
    assert rrset_texts(reply.authority, "NS") == {
        "ns1.child.example.test.",
        "ns2.child.example.test.",
        "ns.elsewhere.invalid.",
    }
    assert rrset_texts(reply.additional, "A") == {"127.0.0.55", "127.0.0.56"}
    assert rrset_texts(reply.additional, "AAAA") == {"::1"}


def test_the_cut_itself_is_referred_too(geodns_server):
    reply = geodns_server.query("child.example.test.", "NS")
    assert not reply.flags & dns.flags.AA
    assert reply.answer == []
    assert rrset_texts(reply.authority, "NS")


def test_ds_at_the_cut_is_answered_by_the_parent_rfc4035_3_1_4_1(geodns_server):
    reply = geodns_server.query("child.example.test.", "DS")
    assert reply.flags & dns.flags.AA
    assert reply.rcode() == dns.rcode.NOERROR
    assert_negative_soa(reply)  # no DNSSEC yet: no DS, so NODATA


@pytest.mark.parametrize(
    ("qname", "qtype", "expected"),
    [
        (
            "example.test.",
            "MX",
            {
                ("mail.example.test.", "A", "192.0.2.25"),
                ("mail.example.test.", "AAAA", "2001:db8::25"),
            },
        ),
        (
            "example.test.",
            "NS",
            {
                ("ns1.example.test.", "A", "127.0.0.53"),
                ("ns2.example.test.", "A", "127.0.0.54"),
                ("ns2.example.test.", "AAAA", "::1"),
            },
        ),
        ("_sip._tcp.example.test.", "SRV", {("sip.example.test.", "A", "192.0.2.60")}),
    ],
    ids=["mx", "ns", "srv"],
)
def test_additional_section_carries_target_addresses_rfc1034_3_6(
    geodns_server, qname, qtype, expected
):
    reply = geodns_server.query(qname, qtype)
    got = {
        (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), r.to_text())
        for rrset in reply.additional
        for r in rrset
    }
    assert got == expected


@TRANSPORTS
def test_any_is_answered_with_one_rrset_rfc8482_4_1(geodns_server, tcp):
    reply = geodns_server.query("example.test.", "ANY", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert len(reply.answer) == 1


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_zone_transfers_are_refused_rfc5936_4_2(geodns_server, qtype):
    query = dns.message.make_query("example.test.", qtype)
    reply = dns.query.tcp(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert reply.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize(
    "opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, 15], ids=["notify", "update", "15"]
)
def test_opcodes_other_than_query_get_notimp_rfc1035_4_1_1(geodns_server, opcode):
    query = dns.message.make_query("example.test.", "SOA")
    query.set_opcode(opcode)
    reply = dns.query.udp(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert reply.rcode() == dns.rcode.NOTIMP
    assert reply.opcode() == opcode


@pytest.mark.parametrize(
    ("qname", "rdclass"),
    [("version.bind.", "CH"), ("id.server.", "CH"), ("example.test.", "HS")],
    ids=["version.bind", "id.server", "hs"],
)
def test_other_classes_get_refused_never_a_crash_rfc8906_3_1_4(geodns_server, qname, rdclass):
    query = dns.message.make_query(qname, "TXT", rdclass=dns.rdataclass.from_text(rdclass))
    reply = dns.query.udp(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert reply.rcode() == dns.rcode.REFUSED


def raw_udp(server, packet: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server.host, server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


@pytest.mark.parametrize("qdcount", [0, 2], ids=["qdcount0", "qdcount2"])
def test_qdcount_other_than_one_gets_formerr_rfc1035_4_1_2(geodns_server, qdcount):
    question = dns.name.from_text("example.test.").to_wire() + struct.pack("!HH", 6, 1)
    packet = struct.pack("!HHHHHH", 0x1234, 0x0100, qdcount, 0, 0, 0) + question * qdcount
    reply = dns.message.from_wire(raw_udp(geodns_server, packet))
    assert reply.id == 0x1234
    assert reply.rcode() == dns.rcode.FORMERR
