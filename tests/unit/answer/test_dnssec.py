"""Signed answers to DO queries, each validated with dnspython's dns.dnssec.validate against
the zone's DNSKEY: static RRsets, pools of every policy, CNAME chains, wildcards (RFC 4035
§3.1.3.3), referrals with and without DS (§3.1.4), compact denial (RFC 9824), DNSKEY,
after a health change and through a rollover; TC when it does not fit; nothing changes
without DO; a node without the keys answers DO queries SERVFAIL."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from dnssec_checks import dnskeys, validate_message
from signed_world import CLOSED_DOWN, ORIGIN, POLICY_POOLS, World, key_set, new_key

from geodns.answer.cache import CachingAnswerer
from geodns.answer.context import Transport
from geodns.answer.packet import PacketAnswerer
from geodns.dnssec.keys import Algorithm, SigningKey
from geodns.snapshot import Snapshot, SnapshotHolder, empty_snapshot

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
KEY = new_key()
KEYS = dnskeys(ORIGIN, [KEY])
ZONE = dns.name.from_text("signed.test.")


def holder_of(snapshot: Snapshot) -> SnapshotHolder:
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(snapshot)
    return holder


@pytest.fixture(scope="module")
def world() -> World:
    return World({ORIGIN: key_set([KEY])})


@pytest.fixture(scope="module")
def answerer(world: World) -> PacketAnswerer:
    return PacketAnswerer(holder_of(world.build(NOW)), random.Random(7))


def ask(
    answerer: PacketAnswerer | CachingAnswerer, name: str, rdtype: str = "A", **how: Any
) -> dns.message.Message:
    return dns.message.from_wire(ask_raw(answerer, name, rdtype, **how))


def ask_raw(
    answerer: PacketAnswerer | CachingAnswerer,
    name: str,
    rdtype: str = "A",
    *,
    do: bool = True,
    co: bool = False,
    ecs: str | None = None,
    source: str = "127.0.0.1",
    transport: Transport = Transport.UDP,
    payload: int = 1232,
) -> bytes:
    """The reply's bytes as the answerer made them (dnspython's to_wire shuffles RRsets)."""
    options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
    query = dns.message.make_query(
        name, rdtype, use_edns=0, want_dnssec=do, payload=payload, options=options
    )
    query.id = 4242  # replies compared byte for byte need the same ID
    if co:
        query.ednsflags |= dns.flags.EDNSFlag.CO
    wire = answerer(query.to_wire(), source, transport)
    assert wire is not None
    return wire


def types(section: list[dns.rrset.RRset]) -> list[tuple[str, str]]:
    return [(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in section]


def validated(reply: dns.message.Message, keys: dict = KEYS) -> list[tuple[str, str]]:
    """Every RRset validated; none unsigned (a referral's NS and glue aside)."""
    good, unsigned = validate_message(reply, keys, NOW)
    assert unsigned == [], reply
    return good


@pytest.mark.parametrize(
    "name, rdtype",
    [
        ("www.signed.test.", "A"),
        ("www.signed.test.", "TXT"),
        ("signed.test.", "SOA"),
        ("signed.test.", "NS"),
        ("signed.test.", "MX"),
        ("mail.signed.test.", "AAAA"),
    ],
)
def test_static_rrsets_are_signed_rfc4035_s3_1_1(answerer, name, rdtype):
    reply = ask(answerer, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert (name, rdtype) in validated(reply)
    assert reply.ednsflags & dns.flags.DO  # RFC 3225 §3: DO copied


def test_additional_addresses_are_signed_too(answerer):
    reply = ask(answerer, "signed.test.", "MX")
    assert ("mail.signed.test.", "A") in validated(reply)


def test_dnskey_rrset_is_served_and_signed_by_its_keys(answerer):
    reply = ask(answerer, "signed.test.", "DNSKEY")
    [dnskey] = [r for r in reply.answer if r.rdtype == dns.rdatatype.DNSKEY]
    assert {k.to_wire() for k in dnskey} == {KEY.public.rdata}
    assert validated(reply) == [("signed.test.", "DNSKEY")]


@pytest.mark.parametrize("rdtype", ["CDS", "CDNSKEY"])
def test_cds_and_cdnskey_offer_the_active_key_rfc7344(answerer, rdtype):
    reply = ask(answerer, "signed.test.", rdtype)
    assert validated(reply) == [("signed.test.", rdtype)]


@pytest.mark.parametrize("pool", POLICY_POOLS)
@pytest.mark.parametrize("cached", [False, True], ids=["reference", "cached"])
def test_every_pool_answer_is_signed_whatever_was_drawn(world, pool, cached):
    snapshot = world.build(NOW)
    answerer = (CachingAnswerer if cached else PacketAnswerer)(
        holder_of(snapshot), random.Random(3)
    )
    seen = set()
    for i in range(60):
        source = f"{(i * 37) % 223 + 1}.{i % 250}.{i * 7 % 250}.9"  # many clients (sticky)
        ecs = ["2.2.3.0/24", "214.78.120.0/24", None][i % 3]
        reply = ask(answerer, pool, "A", ecs=ecs, source=source)
        assert reply.rcode() == dns.rcode.NOERROR
        assert validated(reply) == [(pool, "A")]
        seen.add(frozenset(r.to_text() for r in reply.answer[0]))
    if pool in ("weighted.signed.test.", "rotate.signed.test.", "many.signed.test."):
        assert len(seen) > 2  # different draws, each with its own signature


def test_a_pool_family_is_signed_per_family(answerer):
    reply = ask(answerer, "weighted.signed.test.", "AAAA")
    assert validated(reply) == [("weighted.signed.test.", "AAAA")]


def test_pool_signatures_are_made_at_publish_time_when_few(world):
    snapshot = world.build(NOW)
    table = snapshot.signed[ORIGIN].pools[
        (dns.name.from_text("weighted.signed.test.").to_wire(), dns.rdatatype.A)
    ]
    assert len(table.by_mask) == 4 + 6  # every set of 1 or 2 of the 4 IPv4 members


def test_a_pool_through_a_cname_is_signed_hop_by_hop(answerer):
    reply = ask(answerer, "to-pool.signed.test.", "A")
    assert validated(reply) == [("to-pool.signed.test.", "CNAME"), ("weighted.signed.test.", "A")]


def test_a_cname_chain_is_signed_hop_by_hop(answerer):
    reply = ask(answerer, "chain.signed.test.", "A")
    assert validated(reply) == [
        ("chain.signed.test.", "CNAME"),
        ("alias.signed.test.", "CNAME"),
        ("www.signed.test.", "A"),
    ]


def test_a_cname_into_an_unsigned_zone_signs_only_our_part(answerer):
    reply = ask(answerer, "outside.signed.test.", "A")
    good, unsigned = validate_message(reply, KEYS, NOW)
    assert good == [("outside.signed.test.", "CNAME")]
    assert unsigned == [("www.unsigned.test.", "A")]


def nsec_of(reply: dns.message.Message) -> dns.rrset.RRset:
    [nsec] = [r for r in reply.authority if r.rdtype == dns.rdatatype.NSEC]
    return nsec


def bitmap(nsec: dns.rrset.RRset) -> set[str]:
    return set(nsec[0].to_text().split()[1:])


@pytest.mark.parametrize(
    "name, rdtype, listed",
    [
        ("www.signed.test.", "MX", {"A", "TXT", "RRSIG", "NSEC"}),
        ("b.ent.signed.test.", "A", {"RRSIG", "NSEC"}),  # an empty non-terminal
        ("nearest.signed.test.", "AAAA", {"A", "RRSIG", "NSEC"}),  # a pool without IPv6
        ("closed.signed.test.", "A", {"RRSIG", "NSEC"}),  # every member down: not "A"
        ("signed.test.", "TXT", {"SOA", "NS", "MX", "DNSKEY", "CDS", "CDNSKEY", "RRSIG", "NSEC"}),
        ("x.wild.signed.test.", "MX", {"A", "TXT", "RRSIG", "NSEC"}),  # the wildcard's types
    ],
    ids=["static", "ent", "pool-family", "pool-down", "apex", "wildcard"],
)
def test_nodata_is_one_nsec_at_the_name_with_its_types_rfc9824_s3(answerer, name, rdtype, listed):
    reply = ask(answerer, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    nsec = nsec_of(reply)
    assert nsec.name == dns.name.from_text(name)
    assert nsec[0].next == dns.name.from_text("\\000." + name)  # its immediate successor
    assert bitmap(nsec) == listed and rdtype not in bitmap(nsec)
    assert validated(reply) == [("signed.test.", "SOA"), (name, "NSEC")]


def test_a_name_that_does_not_exist_is_nodata_with_nxname_rfc9824_s3(answerer):
    reply = ask(answerer, "nowhere.signed.test.", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    nsec = nsec_of(reply)
    assert nsec.name == dns.name.from_text("nowhere.signed.test.")
    assert bitmap(nsec) == {"RRSIG", "NSEC", "NXNAME"}
    assert nsec.ttl == 300  # min(SOA TTL, SOA MINIMUM), RFC 9824 §3
    assert validated(reply) == [("signed.test.", "SOA"), ("nowhere.signed.test.", "NSEC")]


def test_nxdomain_comes_back_only_for_the_co_flag_rfc9824_s4(answerer):
    reply = ask(answerer, "nowhere.signed.test.", "A", co=True)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.ednsflags & dns.flags.EDNSFlag.CO
    assert bitmap(nsec_of(reply)) == {"RRSIG", "NSEC", "NXNAME"}
    validated(reply)
    plain = ask(answerer, "nowhere.signed.test.", "A", do=False)
    assert plain.rcode() == dns.rcode.NXDOMAIN  # without DO: RFC 1035 as always


def test_a_query_for_nxname_itself_is_formerr_rfc9824_s3_5(answerer):
    reply = ask(answerer, "www.signed.test.", "TYPE128")
    assert reply.rcode() == dns.rcode.FORMERR


def test_a_wildcard_answer_carries_the_wildcard_signature_and_the_next_closer_proof(answerer):
    reply = ask(answerer, "deep.x.wild.signed.test.", "A")
    [a, rrsig] = reply.answer
    assert rrsig[0].labels == 3  # "wild.signed.test": signed as *.wild (RFC 4035 §3.1.3.3)
    assert validated(reply) == [
        ("deep.x.wild.signed.test.", "A"),
        (nsec_of(reply).name.to_text(), "NSEC"),
    ]
    nsec = nsec_of(reply)
    next_closer = dns.name.from_text("x.wild.signed.test.")
    assert nsec.name < next_closer < nsec[0].next  # it covers the next closer name...
    for existing in ("wild.signed.test.", "*.wild.signed.test.", "real.wild.signed.test."):
        assert not nsec.name < dns.name.from_text(existing) < nsec[0].next  # ...and no more
    assert bitmap(nsec) == {"RRSIG", "NSEC"}


def test_a_wildcard_cname_is_signed_as_the_wildcard(answerer):
    reply = ask(answerer, "any.cw.signed.test.", "A")
    good = validated(reply)
    assert good[:2] == [("any.cw.signed.test.", "CNAME"), ("www.signed.test.", "A")]
    assert reply.answer[1][0].labels == 3


def test_a_referral_to_a_signed_child_carries_its_signed_ds_rfc4035_s3_1_4(answerer):
    reply = ask(answerer, "www.secure.signed.test.", "A")
    assert not reply.flags & dns.flags.AA
    assert types(reply.authority)[:3] == [
        ("secure.signed.test.", "NS"),
        ("secure.signed.test.", "DS"),
        ("secure.signed.test.", "RRSIG"),
    ]
    good, unsigned = validate_message(reply, KEYS, NOW)
    assert good == [("secure.signed.test.", "DS")]
    assert unsigned == [("secure.signed.test.", "NS"), ("ns.secure.signed.test.", "A")]


def test_a_referral_to_an_unsigned_child_proves_there_is_no_ds_rfc4035_s3_1_4(answerer):
    reply = ask(answerer, "www.insecure.signed.test.", "A")
    nsec = nsec_of(reply)
    assert nsec.name == dns.name.from_text("insecure.signed.test.")
    assert bitmap(nsec) == {"NS", "RRSIG", "NSEC"}  # NS without DS or SOA: insecure
    good, unsigned = validate_message(reply, KEYS, NOW)
    assert good == [("insecure.signed.test.", "NSEC")]
    assert unsigned == [("insecure.signed.test.", "NS")]


def test_ds_at_a_delegation_is_answered_signed_by_the_parent(answerer):
    reply = ask(answerer, "secure.signed.test.", "DS")
    assert validated(reply) == [("secure.signed.test.", "DS")]
    nodata = ask(answerer, "insecure.signed.test.", "DS")
    assert bitmap(nsec_of(nodata)) == {"NS", "RRSIG", "NSEC"}
    validated(nodata)


def test_a_signed_answer_too_big_for_udp_is_truncated_and_whole_over_tcp(answerer):
    udp = ask(answerer, "big.signed.test.", "TXT", payload=512)
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = ask(answerer, "big.signed.test.", "TXT", payload=512, transport=Transport.TCP)
    assert not tcp.flags & dns.flags.TC
    assert validated(tcp) == [("big.signed.test.", "TXT")]


def test_without_do_nothing_changes(world):
    signed = PacketAnswerer(holder_of(world.build(NOW)), random.Random(5))
    unsigned = PacketAnswerer(holder_of(World(None).build(NOW)), random.Random(5))
    for name in [
        "www.signed.test.",
        "nowhere.signed.test.",
        "x.wild.signed.test.",
        "www.secure.signed.test.",
        "chain.signed.test.",
        "weighted.signed.test.",
        "b.ent.signed.test.",
    ]:
        for rdtype in ["A", "AAAA", "TXT", "MX", "DS", "ANY"]:
            query = dns.message.make_query(name, rdtype, use_edns=0).to_wire()
            assert signed(query, "127.0.0.1", Transport.UDP) == unsigned(
                query, "127.0.0.1", Transport.UDP
            ), (name, rdtype)


def test_after_a_health_change_the_new_draws_are_signed(world):
    snapshot = world.build(NOW, down=CLOSED_DOWN | {"192.0.2.11", "192.0.2.12", "192.0.2.13"})
    answerer = PacketAnswerer(holder_of(snapshot), random.Random(1))
    reply = ask(answerer, "weighted.signed.test.", "A")
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.14"}
    assert validated(reply) == [("weighted.signed.test.", "A")]
    back = world.build(NOW, down=frozenset())
    reply = ask(PacketAnswerer(holder_of(back)), "closed.signed.test.", "A")
    assert validated(reply) == [("closed.signed.test.", "A")]


def rollover_world(old: SigningKey, new: SigningKey) -> PacketAnswerer:
    """The switched step of a rollover: new signs, old still signs the DNSKEY RRset."""
    world = World({ORIGIN: key_set([new], [old])})
    return PacketAnswerer(holder_of(world.build(NOW)), random.Random(1))


def test_during_a_rollover_the_dnskey_rrset_is_signed_by_both_keys():
    old, new = new_key(), new_key()
    answerer = rollover_world(old, new)
    reply = ask(answerer, "signed.test.", "DNSKEY")
    [rrsigs] = [r for r in reply.answer if r.rdtype == dns.rdatatype.RRSIG]
    assert {s.key_tag for s in rrsigs} == {old.public.tag, new.public.tag}
    for key in (old, new):  # a validator holding either DS gets a chain of trust
        validate_message(reply, dnskeys(ORIGIN, [key]), NOW)
    data = ask(answerer, "weighted.signed.test.", "A")
    [[data_sig]] = [r for r in data.answer if r.rdtype == dns.rdatatype.RRSIG]
    assert data_sig.key_tag == new.public.tag
    validated(data, dnskeys(ORIGIN, [old, new]))
    cds = ask(answerer, "signed.test.", "CDS")
    assert {r.key_tag for r in cds.answer[0]} == {new.public.tag}


def test_ed25519_zones_sign_alike():
    key = new_key(Algorithm.ED25519)
    world = World({ORIGIN: key_set([key])})
    answerer = PacketAnswerer(holder_of(world.build(NOW)), random.Random(1))
    reply = ask(answerer, "weighted.signed.test.", "A")
    assert reply.answer[1][0].algorithm == 15
    validated(reply, dnskeys(ORIGIN, [key]))


def test_a_node_without_the_keys_fails_do_queries_and_says_why():
    world = World({ORIGIN: key_set([KEY], unavailable="dnssec_key_secret is not set")})
    answerer = PacketAnswerer(holder_of(world.build(NOW)), random.Random(1))
    reply = ask(answerer, "www.signed.test.", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer
    [ede] = [o for o in reply.options if o.otype == dns.edns.EDE]
    assert ede.code == 14 and "dnssec_key_secret is not set" in ede.text
    plain = ask(answerer, "www.signed.test.", "A", do=False)
    assert plain.rcode() == dns.rcode.NOERROR and plain.answer  # RFC 3225: no DO, no DNSSEC
    dnskey = ask(answerer, "signed.test.", "DNSKEY", do=False)
    assert {k.to_wire() for k in dnskey.answer[0]} == {KEY.public.rdata}
    other = ask(answerer, "www.unsigned.test.", "A")
    assert other.rcode() == dns.rcode.NOERROR  # only the signed zone is affected


@pytest.mark.parametrize("seed", [11, 12])
def test_cached_signed_replies_equal_the_reference_path_byte_for_byte(seed):
    # each its own snapshot, as test_cache does: each has its own round-robin rotation
    one, two = World({ORIGIN: key_set([KEY])}), World({ORIGIN: key_set([KEY])})
    fast = CachingAnswerer(holder_of(one.build(NOW)), random.Random(seed))
    full = PacketAnswerer(holder_of(two.build(NOW)), random.Random(seed))
    rng = random.Random(seed)
    names = [
        "www.signed.test.",
        "weighted.signed.test.",
        "rotate.signed.test.",
        "geo.signed.test.",
        "sticky.signed.test.",
        "nowhere.signed.test.",
        "x.wild.signed.test.",
        "www.secure.signed.test.",
        "to-pool.signed.test.",
        "signed.test.",
    ]
    for _ in range(400):
        name, rdtype = rng.choice(names), rng.choice(["A", "AAAA", "DNSKEY", "MX", "TXT"])
        ecs = rng.choice([None, "2.2.3.0/24", "214.78.120.0/24"])
        source = rng.choice(["127.0.0.1", "2.2.3.4", "10.9.8.7"])
        do = rng.random() < 0.8
        assert ask_raw(fast, name, rdtype, ecs=ecs, source=source, do=do) == ask_raw(
            full, name, rdtype, ecs=ecs, source=source, do=do
        )


def test_two_nodes_with_the_same_key_make_byte_identical_replies():
    one = PacketAnswerer(holder_of(World({ORIGIN: key_set([KEY])}).build(NOW)), random.Random(1))
    two = PacketAnswerer(
        holder_of(World({ORIGIN: key_set([KEY])}).build(NOW + 3600)), random.Random(1)
    )
    for name, rdtype in [("www.signed.test.", "A"), ("nowhere.signed.test.", "A")]:
        assert ask_raw(one, name, rdtype) == ask_raw(two, name, rdtype)
