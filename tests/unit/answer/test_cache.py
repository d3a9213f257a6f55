"""The cache answers byte for byte as the reference path does, and keys replies by what
they depend on.

Thousands of generated queries (names of the test zones and pools of every policy, random
names, case mixes, qtypes, EDNS, DO, ECS of many networks, UDP and TCP, repeats) go
through a CachingAnswerer and a PacketAnswerer, each with its own snapshot compiled from
the same data (so each has its own round-robin rotation, both starting at 0) and
identically seeded random sources; every reply must be the same bytes. dnslib, an
implementation independent of both, must read each reply back to the same question and
answer count.
"""

from __future__ import annotations

import random

import dns.edns
import dns.flags
import dns.message
import dnslib
import pytest
from answer_queries import generated_queries, make_holder, query_wire

from geodns.answer.cache import MAX_ENTRIES, CachingAnswerer, Drawn, PerClient
from geodns.answer.context import Transport
from geodns.answer.packet import PacketAnswerer
from geodns.answer.stats import MEMBER_SAMPLE_EVERY
from geodns.dns import names
from geodns.pools.model import HealthView, Member, Pool
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "down",
    [frozenset(), frozenset({"192.0.2.21", "192.0.2.131", "192.0.2.171"})],
    ids=["all-up", "some-down"],
)
def test_cached_replies_equal_the_reference_path_byte_for_byte(seed, down):
    fast = CachingAnswerer(make_holder(down), random.Random(seed))
    full = PacketAnswerer(make_holder(down), random.Random(seed))
    for data, source, transport in generated_queries(3000, seed):
        expected = full(data, source, transport)
        got = fast(data, source, transport)
        assert got == expected, (dns.message.from_wire(data), source, transport)
        if got is not None:
            parsed = dnslib.DNSRecord.parse(got)
            asked = dnslib.DNSRecord.parse(data)
            assert parsed.header.id == asked.header.id
            assert str(parsed.q.qname) == str(asked.q.qname)  # case kept (RFC 4343)
            assert len(parsed.rr) == parsed.header.a


def test_a_new_snapshot_empties_the_cache_so_no_stale_reply_survives():
    holder = make_holder()
    fast = CachingAnswerer(holder, random.Random(1))
    query = dns.message.make_query("failover.example.test.", "A").to_wire()
    before = dns.message.from_wire(fast(query, "127.0.0.1", Transport.UDP))
    assert {r.to_text() for r in before.answer[0]} == {"192.0.2.171"}
    down = make_holder(frozenset({"192.0.2.171"})).current
    holder.publish(build_snapshot(2, down.zones, down.source_pools, down.health, down.geo))
    after = dns.message.from_wire(fast(query, "127.0.0.1", Transport.UDP))
    assert {r.to_text() for r in after.answer[0]} == {"192.0.2.181"}


def test_the_cache_is_bounded_whatever_a_flood_asks():
    fast = CachingAnswerer(make_holder(), random.Random(1))
    for i in range(MAX_ENTRIES + 10):
        fast(
            dns.message.make_query(f"n{i}.example.test.", "A").to_wire(), "127.0.0.1", Transport.UDP
        )
    assert len(fast._entries) <= MAX_ENTRIES


def test_repeated_static_query_is_served_from_the_cache_with_its_own_id():
    fast = CachingAnswerer(make_holder(), random.Random(1))
    first = dns.message.make_query("mail.example.test.", "A")
    fast(first.to_wire(), "127.0.0.1", Transport.UDP)
    second = dns.message.make_query("mail.example.test.", "A")
    second.id = (first.id + 1) % 65536
    reply = dns.message.from_wire(fast(second.to_wire(), "127.0.0.1", Transport.UDP))
    assert reply.id == second.id
    assert fast.stats.answered[(0, 1, "udp", "")] == 2


def test_a_pool_reply_too_big_for_the_client_goes_the_full_way_and_is_truncated_rfc6891_7():
    from geodns.dns.zonefile import parse_zone_text

    origin = ".".join(["x" * 60] * 3 + ["y" * 61]) + ".test."  # www.<this> is 255 bytes
    zone = parse_zone_text(
        f"$ORIGIN {origin}\n@ 60 SOA ns hm 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.1\n",
        origin=None,
        source="long.zone",
        include_root=None,
    )
    name = "www." + origin
    pool = Pool(name, tuple(Member(f"2001:db8::{i}") for i in range(1, 9)), max_answers=8)
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(build_snapshot(1, {zone.origin: zone}, [pool], HealthView(), None))
    fast = CachingAnswerer(holder, random.Random(3))
    full = PacketAnswerer(holder, random.Random(3))
    query = dns.message.make_query(
        name, "AAAA", use_edns=0, payload=512, options=[dns.edns.ECSOption("2001:db8:1::", 56)]
    ).to_wire()
    for _ in range(3):  # first sight, then the plan, then the plan again
        got = fast(query, "::1", Transport.UDP)
        assert got == full(query, "::1", Transport.UDP)
        reply = dns.message.from_wire(got)
        assert reply.flags & dns.flags.TC and len(got) <= 512


def test_a_pool_that_ignores_the_client_needs_one_entry_not_one_per_resolver():
    fast = CachingAnswerer(make_holder(), random.Random(1))
    query = query_wire("shares.example.test.")  # weighted, no rules: the same for everyone
    for i in range(100):
        assert fast(query, f"10.0.{i}.1", Transport.UDP) is not None
    [entry] = fast._entries.values()
    assert type(entry) is Drawn


def test_a_client_dependent_pool_keeps_one_reply_per_scope_network_not_per_source():
    fast = CachingAnswerer(make_holder(), random.Random(1))
    query = query_wire("geo.example.test.")
    # every address of 2.2.3.0/24 is one GeoIP network (GB): one reply for all of them
    for host in range(1, 60):
        fast(query, f"2.2.3.{host}", Transport.UDP)
    [entry] = fast._entries.values()
    assert type(entry) is PerClient
    assert len(entry.replies.values) == 1
    # a client of another network gets its own, decided for it
    fast(query, "175.16.199.7", Transport.UDP)
    assert len(entry.replies.values) == 2


def test_an_ecs_selection_is_kept_for_its_scope_network_not_for_each_source_address():
    fast = CachingAnswerer(make_holder(), random.Random(1))
    for host in range(0, 250, 5):  # 50 ECS /32 sources, capped to 2.2.3.0/24 (RFC 7871 §11.1)
        wire = query_wire("geo.example.test.", ecs=f"2.2.3.{host}/32")
        assert fast(wire, "127.0.0.1", Transport.UDP) is not None
    selections = fast._selections[(names.from_text("geo.example.test."), 1)]
    assert len(selections.values) == 1


def test_round_robin_rotates_through_members_in_turn_on_the_cached_path():
    fast = CachingAnswerer(make_holder(), random.Random(1))
    query = query_wire("rotate.example.test.")
    firsts = [
        dns.message.from_wire(fast(query, "127.0.0.1", Transport.UDP)).answer[0][0].address
        for _ in range(8)
    ]
    assert firsts == [f"192.0.2.21{i % 4}" for i in range(8)]


def test_members_answered_are_counted_as_a_fair_sample_of_the_cached_answers():
    holder = make_holder()
    cache = CachingAnswerer(holder, random.Random(5))
    query = dns.message.make_query("shares.example.test.", "A")
    answers = 16000
    for i in range(answers):
        query.id = i & 0xFFFF
        reply = dnslib.DNSRecord.parse(cache(query.to_wire(), "192.0.2.200", Transport.UDP))
        assert len(reply.rr) == 1
    counts = cache.stats.member_answers
    heavy = counts["shares.example.test. 192.0.2.161"]
    light = counts["shares.example.test. 192.0.2.162"]
    # each count stands for MEMBER_SAMPLE_EVERY answers; the first sight is not counted
    assert abs(heavy + light - answers) <= MEMBER_SAMPLE_EVERY
    assert abs(heavy / (heavy + light) - 0.75) < 0.03  # weights 300:100
    # a sticky client's reply is fixed bytes: its member is counted all the same
    sticky = dns.message.make_query("sticky.example.test.", "A")
    for i in range(800):
        sticky.id = i
        cache(sticky.to_wire(), "198.51.100.9", Transport.UDP)
    stuck = [k for k, v in counts.items() if k.startswith("sticky.example.test. ")]
    assert len(stuck) == 1 and abs(counts[stuck[0]] - 800) <= MEMBER_SAMPLE_EVERY


class SteppingClock:
    """A clock that moves on by step seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize("slip", [0, 1, 2])
def test_rate_limited_replies_equal_the_reference_path_byte_for_byte(slip):
    """The same verdicts and the same slip forms on both paths, with RRL tight enough that
    most repeats are limited."""
    from geodns.answer.defences import Defences
    from geodns.answer.rrl import RateLimiter, RrlConfig

    def defences() -> Defences:
        config = RrlConfig(responses_per_second=3, errors_per_second=2, slip=slip, window_s=2)
        return Defences(limiter=RateLimiter(config), clock=SteppingClock(0.003))

    fast = CachingAnswerer(make_holder(), random.Random(7), defences=defences())
    full = PacketAnswerer(make_holder(), random.Random(7), defences=defences())
    dropped = 0
    for data, source, transport in generated_queries(4000, 7):
        expected = full(data, source, transport)
        got = fast(data, source, transport)
        assert got == expected, (dns.message.from_wire(data), source, transport)
        dropped += got is None
    limiter = fast.defences.limiter
    assert limiter is not None and full.defences.limiter is not None
    assert dropped == sum(limiter.dropped.values()) > 50  # the well-formed queries: only RRL
    assert (sum(limiter.slipped.values()) > 100) is (slip > 0)
    assert limiter.dropped == full.defences.limiter.dropped
    assert limiter.slipped == full.defences.limiter.slipped
