"""The reply's OPT record and its options, read back by dnspython (RFC 6891, 7871, 8914),
and the EDNS values a query carries."""

from __future__ import annotations

import dns.edns
import dns.message
import dns.rcode
import pytest

from geodns.dns.edns import (
    EDE_NOT_AUTHORITATIVE,
    EDE_PROHIBITED,
    FLAG_CO,
    FLAG_DO,
    OPTION_COOKIE,
    OPTION_NSID,
    OUR_UDP_PAYLOAD,
    ClientSubnet,
    Edns,
    ExtendedError,
    encode_opt,
    encode_option,
)
from geodns.dns.rcode import BADCOOKIE


def options_of(opt: bytes) -> list[dns.edns.Option]:
    """The options of an OPT record, as dnspython reads them in a reply."""
    header = bytes.fromhex("0000 8400 0000 0000 0000 0001")
    return list(dns.message.from_wire(header + opt).options)


@pytest.mark.parametrize(
    "error",
    [
        ExtendedError(EDE_NOT_AUTHORITATIVE),
        ExtendedError(EDE_PROHIBITED, "denied by policy"),
        ExtendedError(EDE_PROHIBITED, "refusé"),
    ],
    ids=["no-text", "text", "utf-8-text"],
)
def test_extended_error_option_is_info_code_then_extra_text_rfc8914_2(error):
    [option] = options_of(encode_opt(Edns(1232, 0, False, 0), 0, None, error))
    assert isinstance(option, dns.edns.EDEOption)
    assert option.code == error.info_code
    assert (option.text or "") == error.extra_text


def test_extended_error_follows_the_client_subnet_echo_rfc8914_2_rfc7871_7_2_1():
    ecs = ClientSubnet(1, 24, 0, bytes([192, 0, 2]))
    edns = Edns(1232, 0, True, 0, ecs)
    ecs_option, ede = options_of(encode_opt(edns, 0, 24, ExtendedError(EDE_PROHIBITED)))
    assert isinstance(ecs_option, dns.edns.ECSOption) and ecs_option.scopelen == 24
    assert isinstance(ede, dns.edns.EDEOption) and ede.code == EDE_PROHIBITED


def test_no_extended_error_no_option_rfc8914_3():
    assert options_of(encode_opt(Edns(1232, 0, False, 0), 0, None)) == []


def opt_of(opt: bytes) -> dns.message.Message:
    return dns.message.from_wire(bytes.fromhex("0000 8400 0000 0000 0000 0001") + opt)


@pytest.mark.parametrize(
    ("do", "co"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["none", "do", "co", "both"],
)
def test_the_reply_opt_copies_do_and_co_and_offers_our_payload_rfc6891_s6_1_3_rfc9824_s4(do, co):
    reply = opt_of(encode_opt(Edns(4096, 0, do, 0, co=co), 0, None))
    assert reply.edns == 0 and reply.payload == OUR_UDP_PAYLOAD  # never the client's 4096
    assert bool(reply.ednsflags & FLAG_DO) is do and bool(reply.ednsflags & FLAG_CO) is co
    assert reply.ednsflags & ~(FLAG_DO | FLAG_CO) & 0xFFFF == 0  # no other flag set


def test_an_extended_rcode_travels_in_the_opt_ttl_s_upper_bits_rfc6891_s6_1_3():
    # the header keeps the low 4 bits of BADCOOKIE (23), the OPT TTL's top byte the rest
    header = bytes.fromhex("0000 8400 0000 0000 0000 0001")
    header = header[:3] + bytes([BADCOOKIE & 0x0F]) + header[4:]
    reply = dns.message.from_wire(
        header + encode_opt(Edns(1232, 0, False, 0), BADCOOKIE >> 4, None)
    )
    assert reply.rcode() == BADCOOKIE == dns.rcode.BADCOOKIE


@pytest.mark.parametrize(
    ("ecs", "scope", "text"),
    [
        (ClientSubnet(1, 24, 0, bytes([81, 2, 69])), 20, "81.2.69.0/24 scope/20"),
        (ClientSubnet(1, 24, 0, bytes([81, 2, 69])), None, "81.2.69.0/24 scope/0"),
        (
            ClientSubnet(2, 56, 0, bytes.fromhex("20010db80000ab")),
            48,
            "2001:db8:0:ab00::/56 scope/48",
        ),
        (ClientSubnet(1, 0, 0, b""), 0, "0.0.0.0/0 scope/0"),
    ],
    ids=["v4", "v4-no-decision", "v6", "source-0"],
)
def test_client_subnet_is_echoed_as_sent_with_the_deciding_scope_rfc7871_s7_2_1(ecs, scope, text):
    [option] = options_of(encode_opt(Edns(1232, 0, False, 0, ecs), 0, scope))
    assert isinstance(option, dns.edns.ECSOption)
    assert option.to_text() == f"ECS {text}"


@pytest.mark.parametrize(
    ("payload", "limit"), [(0, 512), (511, 512), (512, 512), (1232, 1232), (65535, 1232)]
)
def test_the_udp_limit_is_the_client_s_payload_floored_at_512_and_capped_at_ours_rfc6891_s6_2_5(
    payload, limit
):
    assert Edns(payload, 0, False, 0).udp_limit == limit


def test_an_ecs_address_as_an_integer_pads_the_bytes_not_sent_with_zeros_rfc7871_s6():
    assert ClientSubnet(1, 20, 0, bytes([81, 2, 64])).address_int() == (81 << 24) | (2 << 16) | (
        64 << 8
    )
    assert ClientSubnet(2, 0, 0, b"").address_int() == 0


def test_an_option_is_code_length_and_data_rfc6891_s6_1_2():
    assert encode_option(OPTION_NSID, b"node1") == b"\x00\x03\x00\x05node1"
    assert encode_option(OPTION_COOKIE, b"") == b"\x00\x0a\x00\x00"
