"""decode_query against dnspython as the independent reference, and every FormError leaf."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodns.dns import names
from geodns.dns.wire import (
    BadClientSubnet,
    BadName,
    BadOpt,
    FormError,
    NoQuestion,
    NotAQuery,
    Overrun,
    ShortHeader,
    TrailingData,
    decode_query,
)

labels = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=20,
)
qnames = st.lists(labels, min_size=0, max_size=6).map(lambda ls: ".".join(ls) + ".")


@settings(max_examples=300, deadline=None)
@given(
    qname=qnames,
    rdtype=st.sampled_from([1, 2, 5, 6, 15, 16, 28, 33, 255, 666]),
    edns=st.sampled_from([-1, 0]),
    payload=st.integers(512, 65535),
    want_do=st.booleans(),
    ecs=st.one_of(
        st.none(), st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 32))
    ),
)
def test_decoder_agrees_with_dnspython(qname, rdtype, edns, payload, want_do, ecs):
    options = []
    if ecs is not None and edns == 0:
        a, b, prefix = ecs
        options.append(dns.edns.ECSOption(f"{a}.{b}.0.0", prefix))
    message = dns.message.make_query(
        qname,
        rdtype,
        use_edns=edns,
        payload=payload,
        want_dnssec=want_do and edns == 0,
        options=options,
    )
    wire = message.to_wire()
    query = decode_query(wire)
    reference = dns.message.from_wire(wire)
    assert query.id == reference.id
    assert query.qtype == reference.question[0].rdtype
    assert query.qname == reference.question[0].name.canonicalize().to_wire()
    assert query.question == wire[12 : 12 + len(query.question)]
    assert names.to_text(query.qname) == reference.question[0].name.to_text().lower()
    if edns == -1:
        assert query.edns is None
    else:
        assert query.edns is not None
        assert query.edns.payload == reference.payload
        assert query.edns.do == bool(reference.ednsflags & dns.flags.DO)
        reference_ecs = [o for o in reference.options if isinstance(o, dns.edns.ECSOption)]
        if reference_ecs:
            got = query.edns.client_subnet
            assert got is not None
            assert got.source_prefix == reference_ecs[0].srclen
            assert (
                got.address
                == dns.edns.ECSOption(reference_ecs[0].address, reference_ecs[0].srclen).to_wire()[
                    4:
                ]
            )


def header(qdcount=1, ancount=0, nscount=0, arcount=0, flags=0x0100) -> bytes:
    return struct.pack("!HHHHHH", 0xABCD, flags, qdcount, ancount, nscount, arcount)


QUESTION = dns.name.from_text("example.test.").to_wire() + struct.pack("!HH", 1, 1)


def opt(options: bytes = b"", payload: int = 1232, ttl: int = 0) -> bytes:
    return b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options


def ecs_option(family: int, source: int, scope: int, address: bytes) -> bytes:
    body = struct.pack("!HBB", family, source, scope) + address
    return struct.pack("!HH", 8, len(body)) + body


@pytest.mark.parametrize(
    ("packet", "leaf"),
    [
        (b"", ShortHeader),
        (b"\x00" * 11, ShortHeader),
        (header(flags=0x8100) + QUESTION, NotAQuery),
        (header(qdcount=0), FormError),
        (header(qdcount=2) + QUESTION * 2, FormError),
        (header() + b"\xc0\x0c\x00\x01\x00\x01", BadName),
        (header() + b"\x40" + b"a" * 64 + b"\x00" + b"\x00\x01\x00\x01", BadName),
        (header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01", BadName),
        (header() + b"\x07example", BadName),
        (header() + QUESTION[:-2], Overrun),
        (header() + QUESTION + b"\x00", TrailingData),
        (header(ancount=1) + QUESTION, Overrun),
        (
            header(arcount=1) + QUESTION + b"\x00" + struct.pack("!HHIH", 1, 1, 0, 10) + b"\x00",
            Overrun,
        ),
        (header(ancount=1) + QUESTION + opt(), BadOpt),
        (header(arcount=2) + QUESTION + opt() + opt(), BadOpt),
        (header(arcount=1) + QUESTION + b"\x01a\x00" + opt()[1:], BadOpt),
        (header(arcount=1) + QUESTION + opt(struct.pack("!HH", 10, 8) + b"1234"), BadOpt),
        (header(arcount=1) + QUESTION + opt(ecs_option(3, 0, 0, b"")), BadClientSubnet),
        (
            header(arcount=1) + QUESTION + opt(ecs_option(1, 33, 0, b"\x01\x02\x03\x04\x05")),
            BadClientSubnet,
        ),
        (header(arcount=1) + QUESTION + opt(ecs_option(1, 24, 0, b"\x01\x02")), BadClientSubnet),
        (
            header(arcount=1) + QUESTION + opt(ecs_option(1, 20, 0, b"\x01\x02\x03")),
            BadClientSubnet,
        ),
        (header(arcount=1) + QUESTION + opt(ecs_option(2, 129, 0, b"\x00" * 17)), BadClientSubnet),
        (
            header(arcount=1)
            + QUESTION
            + opt(ecs_option(1, 24, 0, b"\x01\x02\x03") + ecs_option(1, 24, 0, b"\x01\x02\x03")),
            BadClientSubnet,
        ),
        (
            header(arcount=1) + QUESTION + opt(ecs_option(1, 24, 8, b"\x01\x02\x03")),
            BadClientSubnet,
        ),
    ],
    ids=[
        "empty",
        "11-bytes",
        "qr-set",
        "qdcount-0",
        "qdcount-2",
        "pointer-in-question",
        "label-type-0x40",
        "name-over-255",
        "name-overruns",
        "question-overruns",
        "trailing-byte",
        "answer-count-overruns",
        "rdata-overruns",
        "opt-in-answer-rfc6891-6.1.1",
        "two-opts-rfc6891-6.1.1",
        "opt-owner-not-root",
        "option-overruns-rdata",
        "ecs-family-3-rfc7871-6",
        "ecs-prefix-over-32",
        "ecs-address-short",
        "ecs-bits-beyond-prefix-rfc7871-6",
        "ecs-v6-prefix-over-128",
        "ecs-twice",
        "ecs-scope-not-0-in-a-query-rfc7871-6",
    ],
)
def test_malformed_queries_raise_the_precise_leaf(packet, leaf):
    with pytest.raises(leaf) as caught:
        decode_query(packet)
    assert type(caught.value) is leaf


def test_formerr_keeps_the_question_once_it_parsed():
    with pytest.raises(BadOpt) as caught:
        decode_query(header(arcount=2) + QUESTION + opt() + opt())
    assert caught.value.question == QUESTION
    assert caught.value.header == (0xABCD, 0x0100)


@pytest.mark.parametrize(
    "option",
    [ecs_option(1, 24, 8, b"\x01\x02\x03"), ecs_option(1, 24, 0, b"\x01\x02\x03\x04")],
    ids=["scope-not-0", "address-too-long"],
)
def test_a_bad_client_subnet_in_a_well_formed_opt_keeps_the_opt_for_the_formerr_rfc6891_7(
    option,
):
    with pytest.raises(BadClientSubnet) as caught:
        decode_query(header(arcount=1) + QUESTION + opt(option, ttl=0x8000, payload=4096))
    edns = caught.value.edns
    assert edns is not None and caught.value.question == QUESTION
    assert (edns.payload, edns.do, edns.client_subnet) == (4096, True, None)


def test_a_malformed_opt_record_leaves_nothing_to_echo_rfc6891_7():
    with pytest.raises(BadOpt) as caught:
        decode_query(header(arcount=1) + QUESTION + opt(struct.pack("!HH", 10, 8) + b"1234"))
    assert caught.value.edns is None


def test_compressed_names_in_additional_records_are_walked():
    # an A record in additional whose owner points back at the question name
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x7f\x00\x00\x01"
    query = decode_query(header(arcount=2) + QUESTION + record + opt())
    assert query.edns is not None


def test_forward_compression_pointer_is_a_loop():
    record = b"\xc0\x30" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x7f\x00\x00\x01"
    with pytest.raises(BadName):
        decode_query(header(arcount=1) + QUESTION + record)


def test_edns_version_and_do_bit_are_read_rfc6891_6_1_3():
    query = decode_query(header(arcount=1) + QUESTION + opt(ttl=(1 << 16) | 0x8000, payload=4096))
    assert query.edns is not None
    assert (query.edns.version, query.edns.do, query.edns.payload) == (1, True, 4096)
    assert query.edns.udp_limit == 1232


@pytest.mark.parametrize(("payload", "limit"), [(0, 512), (511, 512), (900, 900), (65535, 1232)])
def test_udp_limit_floors_at_512_and_caps_at_our_1232_rfc6891_6_2_5(payload, limit):
    query = decode_query(header(arcount=1) + QUESTION + opt(payload=payload))
    assert query.edns is not None and query.edns.udp_limit == limit


def test_a_compressed_name_counts_its_pointed_labels_toward_255_bytes_rfc1035_2_3_4():
    """The labels before a pointer and those it points at are one name: over 255 in all
    is refused, wherever the pointer splits it."""
    long_question = dns.name.from_text("a" * 63 + ".test.").to_wire() + struct.pack("!HH", 1, 1)

    def answer_owned_by(labels: int) -> bytes:
        owner = (b"\x3f" + b"b" * 63) * labels + b"\xc0\x0c"  # then the question's name
        record = owner + struct.pack("!HHIH", 1, 1, 60, 4) + b"\xc0\x00\x02\x01"
        return header(ancount=1) + long_question + record

    assert decode_query(answer_owned_by(2)).qname  # 2 x 64 + 69 = 197 bytes: a name
    with pytest.raises(BadName):
        decode_query(answer_owned_by(3))  # 3 x 64 + 69 = 261 bytes


def test_no_question_with_a_cookie_carries_its_opt_for_rfc7873_s5_4():
    """QDCOUNT 0 with an OPT holding a COOKIE is RFC 7873 §5.4's query for a server
    cookie: still a FormError leaf (no question), but with the OPT it carried."""
    cookie = struct.pack("!HH", 10, 8) + bytes(range(1, 9))
    with pytest.raises(NoQuestion) as raised:
        decode_query(header(qdcount=0, arcount=1) + opt(cookie))
    assert raised.value.header == (0xABCD, 0x0100)
    assert raised.value.edns is not None
    assert raised.value.edns.client_cookie == bytes(range(1, 9))
    with pytest.raises(TrailingData):
        decode_query(header(qdcount=0, arcount=1) + opt(cookie) + b"\x00")
    with pytest.raises(BadOpt):  # a COOKIE of a malformed length: the leaf its OPT raises
        decode_query(header(qdcount=0, arcount=1) + opt(struct.pack("!HH", 10, 4) + b"1234"))
