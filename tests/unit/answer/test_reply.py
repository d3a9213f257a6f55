"""compile_reply: every name that may be compressed is, and only those; truncation keeps
whole RRsets and the glue a referral needs."""

from __future__ import annotations

import random

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from geodns.answer.context import Transport
from geodns.answer.packet import PacketAnswerer
from geodns.answer.reply import encode_error
from geodns.answer.resolve import PROHIBITED
from geodns.dns.rcode import REFUSED
from geodns.dns.wire import decode_query
from geodns.dns.zonefile import parse_zone_text
from geodns.pools.model import HealthView, Member, Pool
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot

ZONE = """$ORIGIN example.test.
$TTL 3600
@        SOA   ns1 hostmaster 1 7200 3600 1209600 300
@        NS    ns1
@        NS    ns2
ns1      A     192.0.2.53
ns2      A     192.0.2.54
@        MX    10 mail
mail     A     192.0.2.25
alias    CNAME www
hop      CNAME alias
_sip._tcp SRV  10 60 5060 sip.example.test.
sip      A     192.0.2.60
dn       DNAME target.example.test.
ptr      PTR   mail.example.test.
{many_mx}
{child_ns}
{child_glue}
"""
MANY_MX = "\n".join(f"mxs MX {i} mx{i}.mx-hosts.example.test." for i in range(1, 14))
CHILD_NS = "\n".join(f"child NS ns{i}.child.example.test." for i in range(1, 15))
CHILD_GLUE = "\n".join(f"ns{i}.child A 192.0.2.{100 + i}" for i in range(1, 15))


@pytest.fixture(scope="module")
def answer() -> PacketAnswerer:
    zone = parse_zone_text(
        ZONE.format(many_mx=MANY_MX, child_ns=CHILD_NS, child_glue=CHILD_GLUE),
        origin=None,
        source="example.test.zone",
        include_root=None,
    )
    pool = Pool("www.example.test.", (Member("192.0.2.10"), Member("192.0.2.11")), max_answers=2)
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(build_snapshot(1, {zone.origin: zone}, [pool], HealthView(), None))
    return PacketAnswerer(holder, random.Random(1))


def ask(answer: PacketAnswerer, name: str, rdtype: str, **kwargs: object) -> bytes:
    transport = kwargs.pop("transport", Transport.UDP)
    query = dns.message.make_query(name, rdtype, **kwargs)  # type: ignore[arg-type]
    reply = answer(query.to_wire(), "192.0.2.1", transport)  # type: ignore[arg-type]
    assert reply is not None
    return reply


QUESTIONS = [
    ("example.test.", "MX"),  # MX exchange and its glue owner
    ("example.test.", "NS"),
    ("example.test.", "SOA"),  # SOA MNAME and RNAME
    ("nothing.example.test.", "A"),  # NXDOMAIN: the SOA's owner and names
    ("a.child.example.test.", "A"),  # referral: 14 NS targets and their glue owners
    ("mxs.example.test.", "MX"),
    ("hop.example.test.", "A"),  # CNAME chain into a pool
    ("ptr.example.test.", "PTR"),
    ("_sip._tcp.example.test.", "SRV"),
    ("www.example.test.", "TXT"),  # NODATA at a pool name
]


@pytest.mark.parametrize("qname, rdtype", QUESTIONS, ids=[f"{n}{t}" for n, t in QUESTIONS])
def test_replies_are_as_small_as_an_independent_compressing_encoder_makes_them_rfc1035_4_1_4(
    answer, qname, rdtype
):
    """dnspython's encoder compresses every name RFC 3597 §4 allows; re-encoding our reply
    with it must not save a single byte."""
    reply = ask(answer, qname, rdtype, use_edns=0, payload=4096)
    parsed = dns.message.from_wire(reply)
    assert not parsed.flags & dns.flags.TC
    assert len(reply) == len(parsed.to_wire())


def test_srv_target_is_never_compressed_rfc2782():
    zone = parse_zone_text(
        "$ORIGIN e.test.\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
        "sip.e.test. SRV 1 2 3 sip.e.test.\n",
        origin=None,
        source="e.test.zone",
        include_root=None,
    )
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(build_snapshot(1, {zone.origin: zone}, [], HealthView(), None))
    reply = ask(PacketAnswerer(holder, random.Random(1)), "sip.e.test.", "SRV")
    target = b"\x03sip\x01e\x04test\x00"
    assert reply.endswith(target)  # the owner name is the question, the target in full


def test_dname_target_is_never_compressed_rfc6672_2_1(answer):
    reply = ask(answer, "dn.example.test.", "DNAME")
    assert reply.endswith(b"\x06target\x07example\x04test\x00")


def test_a_referral_with_14_servers_and_glue_fits_edns_1232_without_tc(answer):
    reply = ask(answer, "a.child.example.test.", "A", use_edns=0, payload=1232)
    parsed = dns.message.from_wire(reply)
    assert not parsed.flags & dns.flags.TC and not parsed.flags & dns.flags.AA
    assert len(parsed.authority[0]) == 14
    assert sum(len(r) for r in parsed.additional) == 14  # every glue address
    assert len(reply) <= 1232


def test_thirteen_mx_records_fit_512_bytes_without_edns_rfc1035_4_2_1(answer):
    reply = ask(answer, "mxs.example.test.", "MX")
    parsed = dns.message.from_wire(reply)
    assert not parsed.flags & dns.flags.TC
    assert len(parsed.answer[0]) == 13 and len(reply) <= 512


def test_optional_additional_data_is_dropped_before_tc_is_set_rfc2181_9(answer):
    # MX of the apex with its glue fits; the glue is optional (RFC 2181 §9: no TC for it)
    full = dns.message.from_wire(ask(answer, "example.test.", "MX", use_edns=0, payload=4096))
    assert full.additional
    assert not full.flags & dns.flags.TC


def test_required_glue_that_cannot_fit_sets_tc_rfc9471_3(answer):
    # without EDNS a 512-byte limit cannot hold 14 NS and 14 in-domain glue addresses
    reply = ask(answer, "a.child.example.test.", "A")
    parsed = dns.message.from_wire(reply)
    assert parsed.flags & dns.flags.TC
    assert not parsed.answer and not parsed.authority and not parsed.additional
    assert len(reply) <= 512


def test_drawn_pool_records_after_a_cname_are_owned_by_a_pointer_to_its_target(answer):
    reply = ask(answer, "hop.example.test.", "A")
    parsed = dns.message.from_wire(reply)
    cnames = [r for r in parsed.answer if r.rdtype == dns.rdatatype.CNAME]
    [addresses] = [r for r in parsed.answer if r.rdtype == dns.rdatatype.A]
    assert [str(r.name) for r in cnames] == ["hop.example.test.", "alias.example.test."]
    assert str(addresses.name) == "www.example.test."
    assert {a.address for a in addresses} == {"192.0.2.10", "192.0.2.11"}
    # the two A records are 16 bytes each: a 2-byte owner pointer and 14 bytes of record
    assert reply.count(b"\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04\xc0\x00\x02") == 2
    assert len(reply) == len(parsed.to_wire())


def test_the_question_keeps_the_clients_case_and_answers_point_at_it_rfc4343(answer):
    reply = ask(answer, "MaIl.ExAmPlE.tEsT.", "A")
    parsed = dns.message.from_wire(reply)
    assert parsed.question[0].name.to_text() == "MaIl.ExAmPlE.tEsT."
    assert parsed.answer[0].name.to_text() == "MaIl.ExAmPlE.tEsT."  # a pointer to offset 12


def test_refused_outside_our_zones_carries_ede_20_only_with_edns_rfc8914_4_21_rfc6891_7(answer):
    with_edns = dns.message.from_wire(ask(answer, "www.example.org.", "A", use_edns=0))
    assert with_edns.rcode() == dns.rcode.REFUSED
    [ede] = [o for o in with_edns.options if isinstance(o, dns.edns.EDEOption)]
    assert ede.code == dns.edns.EDECode.NOT_AUTHORITATIVE
    without = dns.message.from_wire(ask(answer, "www.example.org.", "A"))
    assert without.rcode() == dns.rcode.REFUSED and without.edns < 0


def test_encode_error_gives_the_defences_a_prohibited_reply_rfc8914_4_19():
    query = decode_query(dns.message.make_query("www.example.test.", "A", use_edns=0).to_wire())
    reply = dns.message.from_wire(encode_error(query, REFUSED, PROHIBITED))
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AA
    [ede] = reply.options
    assert isinstance(ede, dns.edns.EDEOption) and ede.code == dns.edns.EDECode.PROHIBITED


@pytest.mark.parametrize(
    "ecs_body",
    [b"\x00\x01\x18\x08\x02\x02\x03", b"\x00\x01\x18\x00\x02\x02\x03\x04", b"\x00\x03\x00\x00"],
    ids=["scope-not-0-rfc7871-6", "address-too-long-rfc7871-6", "family-3-rfc7871-6"],
)
def test_formerr_for_a_bad_client_subnet_carries_an_opt_rfc6891_7(answer, ecs_body):
    query = dns.message.make_query(
        "www.example.test.",
        "A",
        use_edns=0,
        want_dnssec=True,
        options=[dns.edns.GenericOption(8, ecs_body)],
    )
    reply = answer(query.to_wire(), "192.0.2.1", Transport.UDP)
    assert reply is not None
    parsed = dns.message.from_wire(reply)
    assert parsed.rcode() == dns.rcode.FORMERR and parsed.id == query.id
    assert parsed.question == query.question
    assert parsed.edns == 0 and parsed.payload == 1232 and parsed.options == ()
    assert parsed.ednsflags & dns.flags.DO  # RFC 3225 §3: DO is copied
