"""EDNS(0) (RFC 6891) and truncation (RFC 1035 §4.2.1, RFC 7766 §5) against the real server."""

from __future__ import annotations

import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

pytestmark = pytest.mark.e2e


def send_udp(server, query: dns.message.Message) -> dns.message.Message:
    return dns.query.udp(query, server.host, port=server.port, timeout=2, ignore_trailing=False)


def raw_udp(server, packet: bytes) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(packet, (server.host, server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def test_opt_is_echoed_with_our_payload_1232_and_version_0_rfc6891_6_1_1(geodns_server):
    reply = send_udp(
        geodns_server, dns.message.make_query("example.test.", "SOA", use_edns=0, payload=4096)
    )
    assert reply.edns == 0
    assert reply.payload == 1232


def test_no_opt_in_reply_to_a_query_without_one_rfc6891_7(geodns_server):
    reply = send_udp(geodns_server, dns.message.make_query("example.test.", "SOA", use_edns=False))
    assert reply.edns == -1
    assert reply.flags & dns.flags.AA


def test_edns_version_1_gets_badvers_with_version_0_rfc6891_6_1_3(geodns_server):
    query = dns.message.make_query(
        "example.test.", "SOA", use_edns=1, options=[dns.edns.GenericOption(65001, b"x")]
    )
    reply = send_udp(geodns_server, query)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0
    assert reply.answer == []


def test_unknown_option_is_ignored_and_not_echoed_rfc6891_6_1_2(geodns_server):
    query = dns.message.make_query(
        "example.test.", "SOA", use_edns=0, options=[dns.edns.GenericOption(65001, b"opaque")]
    )
    reply = send_udp(geodns_server, query)
    assert reply.rcode() == dns.rcode.NOERROR
    assert list(reply.options) == []


def test_unknown_edns_flags_are_cleared_do_is_copied_rfc6891_6_1_4_rfc3225_3(geodns_server):
    query = dns.message.make_query(
        "example.test.", "SOA", use_edns=0, ednsflags=0x2000 | dns.flags.DO
    )
    reply = send_udp(geodns_server, query)
    assert reply.ednsflags == dns.flags.DO  # the DO bit back, the unknown 0x2000 cleared
    assert all(rrset.rdtype != dns.rdatatype.RRSIG for rrset in reply.answer)  # not signed


def test_the_co_flag_is_copied_rfc9824_s4(geodns_server):
    query = dns.message.make_query(
        "example.test.", "SOA", use_edns=0, ednsflags=dns.flags.EDNSFlag.CO | dns.flags.DO
    )
    reply = send_udp(geodns_server, query)
    assert reply.ednsflags == dns.flags.EDNSFlag.CO | dns.flags.DO


def test_header_z_bit_is_answered_and_cleared_rfc1035_4_1_1(geodns_server):
    packet = bytearray(dns.message.make_query("example.test.", "SOA").to_wire())
    packet[3] |= 0x40  # Z
    reply = raw_udp(geodns_server, bytes(packet))
    assert reply is not None and reply[3] & 0x40 == 0
    assert dns.message.from_wire(reply).rcode() == dns.rcode.NOERROR


def add_opt(packet: bytes, opt: bytes, section: str = "additional") -> bytes:
    header = bytearray(packet[:12])
    index = {"answer": 6, "authority": 8, "additional": 10}[section]
    count = struct.unpack_from("!H", header, index)[0] + 1
    struct.pack_into("!H", header, index, count)
    return bytes(header) + packet[12:] + opt


OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


@pytest.mark.parametrize("where", ["twice", "answer", "authority"])
def test_second_opt_or_opt_outside_additional_gets_formerr_rfc6891_6_1_1(geodns_server, where):
    plain = dns.message.make_query("example.test.", "SOA").to_wire()
    if where == "twice":
        packet = add_opt(add_opt(plain, OPT), OPT)
    else:
        packet = add_opt(plain, OPT, where)
    reply = dns.message.from_wire(raw_udp(geodns_server, packet))
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.question[0].name.to_text() == "example.test."  # question echoed when readable


def test_option_length_overrunning_the_opt_rdata_gets_formerr_rfc6891_7(geodns_server):
    bad_opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 4) + struct.pack("!HH", 65001, 10)
    packet = add_opt(dns.message.make_query("example.test.", "SOA").to_wire(), bad_opt)
    reply = dns.message.from_wire(raw_udp(geodns_server, packet))
    assert reply.rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize(
    "ecs_body",
    [b"\x00\x01\x18\x10\x02\x02\x03", b"\x00\x01\x18\x00\x02\x02\x03\x04"],
    ids=["scope-not-0", "address-too-long"],
)
def test_bad_client_subnet_gets_formerr_with_an_opt_rfc7871_6_rfc6891_7(
    geodns_server, tcp, ecs_body
):
    query = dns.message.make_query(
        "www.example.test.", "A", use_edns=0, options=[dns.edns.GenericOption(8, ecs_body)]
    )
    send = dns.query.tcp if tcp else dns.query.udp
    reply = send(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.edns == 0 and reply.options == ()  # the OPT, without the option it refused


@pytest.mark.parametrize("payload", [None, 512], ids=["no-edns", "edns-512"])
def test_udp_answer_over_the_limit_is_truncated_and_fits_rfc1035_4_2_1(geodns_server, payload):
    use_edns = payload is not None
    query = dns.message.make_query(
        "big.example.test.", "TXT", use_edns=0 if use_edns else False, payload=payload or 512
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query.to_wire(), (geodns_server.host, geodns_server.port))
        wire = sock.recv(65535)
    assert len(wire) <= 512
    reply = dns.message.from_wire(wire)
    assert reply.flags & dns.flags.TC
    assert reply.answer == []
    assert (reply.edns == 0) == use_edns  # RFC 6891 §7: the OPT stays in a truncated reply


def test_truncated_client_retries_over_tcp_and_gets_it_whole_rfc7766_5(geodns_server):
    query = dns.message.make_query("big.example.test.", "TXT")
    reply, used_tcp = dns.query.udp_with_fallback(
        query, geodns_server.host, port=geodns_server.port, timeout=2
    )
    assert used_tcp
    assert not reply.flags & dns.flags.TC
    [txt] = reply.answer
    assert sum(len(s) for s in txt[0].strings) == 800


def test_big_answer_fits_a_1232_payload_untruncated(geodns_server):
    query = dns.message.make_query("big.example.test.", "TXT", use_edns=0, payload=1232)
    reply = send_udp(geodns_server, query)
    assert not reply.flags & dns.flags.TC
    assert len(reply.answer) == 1


def test_edns_over_tcp_rfc7766(geodns_server):
    query = dns.message.make_query("example.test.", "SOA", use_edns=0)
    reply = dns.query.tcp(query, geodns_server.host, port=geodns_server.port, timeout=2)
    assert reply.edns == 0
    assert reply.flags & dns.flags.AA


def test_several_options_together_nsid_ecs_expire_cookie_rfc6891(geodns_server):
    options = [
        dns.edns.GenericOption(3, b""),
        dns.edns.ECSOption("0.0.0.0", 0),
        dns.edns.GenericOption(9, b""),
        dns.edns.GenericOption(10, b"12345678"),
    ]
    reply = send_udp(
        geodns_server, dns.message.make_query("example.test.", "SOA", use_edns=0, options=options)
    )
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.edns == 0
