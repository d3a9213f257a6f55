"""The C engine answers as the Python path does: the same bytes where the reply is fixed,
a draw from the same members in the same shares where it is drawn; bounded whatever it is
sent; emptied by a new snapshot; refusing entries it cannot keep.

Queries go through NativeUdp.answer, which is the socket loop's own lookup, rendering and
miss path without the socket (the e2e tests drive the socket loop itself).
"""

from __future__ import annotations

import random
from collections import Counter

import dns.flags
import dns.message
import dns.rcode
import pytest
from answer_queries import generated_queries, make_holder, query_wire

from geodns.answer import _native
from geodns.answer.acl import AccessList, DenyAction, packed_ranges
from geodns.answer.cache import CachingAnswerer, Drawn
from geodns.answer.context import Transport
from geodns.answer.defences import Defences
from geodns.answer.native import NativeUdp
from geodns.answer.native_rrl import NativeLimiter
from geodns.answer.querylog import QueryLogger
from geodns.answer.rrl import RateLimiter, RrlConfig
from geodns.snapshot import build_snapshot

SEED = bytes(range(16))


def native_udp(**kwargs: object) -> NativeUdp:
    return NativeUdp(CachingAnswerer(make_holder(), random.Random(1)), seed=SEED, **kwargs)  # type: ignore[arg-type]


def answer_records(reply: bytes) -> list[str]:
    return [r.to_text() for rrset in dns.message.from_wire(reply).answer for r in rrset]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_native_replies_equal_the_python_path_fixed_bytes_or_a_draw_of_the_same_members(seed):
    native = native_udp()
    reference = CachingAnswerer(make_holder(), random.Random(seed))
    drawn = 0
    for data, source, _ in generated_queries(4000, seed):
        expected, entry = reference.answer_entry(data, source, Transport.UDP)
        got = native.answer(data, source)
        if type(entry) is not Drawn:
            assert got == expected, (dns.message.from_wire(data), source)
            continue
        drawn += 1
        assert got is not None and expected is not None
        assert len(got) == len(expected)
        head, tail = data[:2] + entry.head, entry.tail
        assert got.startswith(head) and got.endswith(tail)
        middle = got[len(head) : len(got) - len(tail)]
        possible = {entry.records[m.index] for m in entry.draw.members}
        size = entry.draw.size
        width = len(middle) // size
        picked = [middle[i * width : (i + 1) * width] for i in range(size)]
        assert set(picked) <= possible and len(set(picked)) == size  # without replacement
    counters = native.counters()
    assert drawn > 100 and counters["hits"] > 1000  # the C table answered, draws included


def shares(answer, query: bytes, source: str, rounds: int) -> Counter[bytes]:
    """How often each reply came (after the ID: the same query, so only the draw differs)."""
    return Counter(answer(query, source)[2:] for _ in range(rounds))


@pytest.mark.parametrize(
    "name", ["shares.example.test.", "adapt.example.test.", "geo.example.test."]
)
def test_weighted_draws_in_c_have_the_python_paths_shares_within_one_point(name):
    query = query_wire(name)
    native = native_udp()
    python = CachingAnswerer(make_holder(), random.Random(7))
    rounds = 60_000
    ours = shares(native.answer, query, "2.2.3.4", rounds)
    theirs = shares(lambda q, s: python(q, s, Transport.UDP), query, "2.2.3.4", rounds)
    assert set(ours) == set(theirs)  # the same possible answers (ordered member lists)
    for answer in theirs:
        assert abs(ours[answer] - theirs[answer]) / rounds < 0.01, (answer, ours, theirs)
    assert native.counters()["hits"] >= rounds - 1


def test_round_robin_rotates_in_turn_from_where_the_python_path_left_off():
    native = native_udp()
    query = query_wire("rotate.example.test.")
    firsts = [answer_records(native.answer(query, "127.0.0.1"))[0] for _ in range(8)]
    assert firsts == [f"192.0.2.21{i % 4}" for i in range(8)]
    assert native.counters()["hits"] == 7


def test_a_client_dependent_pool_is_answered_in_c_per_client_network():
    native = native_udp()
    python = CachingAnswerer(make_holder(), random.Random(1))
    query = query_wire("sticky.example.test.")  # sticky: fixed per /24 of the client
    for host in ("2.2.3.4", "2.2.3.99", "175.16.199.7", "175.16.199.8", "10.1.2.3"):
        assert native.answer(query, host) == python(query, host, Transport.UDP)
    hits = native.counters()["hits"]
    for host in ("2.2.3.200", "175.16.199.200", "10.1.2.200"):  # networks seen: C answers
        assert native.answer(query, host) == python(query, host, Transport.UDP)
    assert native.counters()["hits"] == hits + 3


def test_a_new_snapshot_empties_the_table_so_no_stale_reply_survives():
    native = native_udp()
    query = query_wire("failover.example.test.")
    for _ in range(3):
        assert answer_records(native.answer(query, "127.0.0.1")) == ["192.0.2.171"]
    down = make_holder(frozenset({"192.0.2.171"})).current
    holder = native.cache.holder
    holder.publish(build_snapshot(2, down.zones, down.source_pools, down.health, down.geo))
    assert answer_records(native.answer(query, "127.0.0.1")) == ["192.0.2.181"]
    assert native.counters()["entries"] == 1


def test_the_table_is_bounded_in_entries_and_bytes_whatever_a_flood_asks():
    native = native_udp(max_entries=1024, max_bytes=1 << 20)
    header = bytes.fromhex("abcd 0100 0001 0000 0000 0000")
    for i in range(20_000):
        label = f"n{i}".encode()
        name = bytes([len(label)]) + label + b"\x07example\x04test\x00"
        native.answer(header + name + b"\x00\x01\x00\x01", "127.0.0.1")  # n<i> A IN
    counters = native.counters()
    assert counters["entries"] <= 1024
    assert counters["bytes"] <= (1 << 20) + 8192
    assert counters["evictions"] > 0


def test_short_packets_and_responses_are_dropped_and_counted_in_c():
    native = native_udp()
    assert native.answer(b"\x12\x34\x01", "127.0.0.1") is None
    response = bytearray(query_wire("www.example.test."))
    response[2] |= 0x80
    assert native.answer(bytes(response), "127.0.0.1") is None
    counters = native.counters()
    assert (counters["dropped_short"], counters["dropped_response"], counters["misses"]) == (
        1,
        1,
        0,
    )
    stats = native.stats
    assert stats.dropped == Counter({"ShortHeader": 1, "NotAQuery": 1})


def test_with_the_query_log_every_packet_goes_to_python_and_nothing_is_kept():
    cache = CachingAnswerer(make_holder(), random.Random(1))
    native = NativeUdp(cache, logged=QueryLogger(cache), seed=SEED)
    query = query_wire("www.example.test.")
    for _ in range(3):
        assert native.answer(query, "127.0.0.1") is not None
    counters = native.counters()
    assert (counters["hits"], counters["misses"], counters["entries"]) == (0, 3, 0)


def test_stats_add_the_c_hits_to_the_python_counts_under_the_same_labels():
    native = native_udp()
    query = query_wire("www.example.test.")
    for _ in range(5):
        native.answer(query, "127.0.0.1")
    assert native.stats.answered[(0, 1, "udp", "www.example.test.")] == 5
    assert native.cache.stats.answered[(0, 1, "udp", "www.example.test.")] == 1


QUERY = query_wire("www.example.test.")
HEAD = b"\x84\x00" + b"\x00" * 8
RRL = (7, 4, None)  # key id, category (an error's), no slip form
GOOD_DRAWN = (_native.DRAWN, -1, 0, HEAD, b"", (b"r" * 16,), (1,), 1, 1, 0, 0, (0,), *RRL)
GOOD_FIXED = (_native.FIXED, -1, 0, HEAD, (), *RRL)


def fixed(*fields: object) -> tuple[object, ...]:
    """A fixed entry of these fields, the RRL ones added."""
    return (*fields, *RRL)


def drawn(**changed: object) -> tuple[object, ...]:
    """GOOD_DRAWN with some fields changed, by name."""
    fields = "kind scope slot head tail records weights count draw rotation start members"
    fields += " rrl_key rrl_category slip"
    spec = dict(zip(fields.split(), GOOD_DRAWN, strict=True))
    spec.update(changed)
    return tuple(spec.values())


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("fixed", TypeError),
        (fixed(_native.FIXED, -2, 0, HEAD, ()), ValueError),  # scope below -1
        (fixed(_native.FIXED, 129, 0, HEAD, ()), ValueError),  # scope past /128
        (fixed(_native.FIXED, -1, -1, HEAD, ()), ValueError),  # stats slot
        (fixed(_native.FIXED, -1, 0, HEAD), TypeError),  # no members
        (fixed(_native.FIXED, -1, 0, b"\x84", ()), ValueError),  # shorter than a header
        (fixed(_native.FIXED, -1, 0, b"x" * 5000, ()), ValueError),  # too big to render
        (fixed(_native.FIXED, -1, 0, HEAD, (-1,)), ValueError),  # member slot
        (fixed(7, -1, 0, HEAD, ()), ValueError),
        (GOOD_DRAWN[:14], TypeError),
        (GOOD_FIXED[:-1], TypeError),  # no slip form
        ((*GOOD_FIXED[:-3], "k", 4, None), TypeError),  # key id not an int
        ((*GOOD_FIXED[:-3], 7, 5, None), ValueError),  # category past the errors
        ((*GOOD_FIXED[:-1], b"\x84"), ValueError),  # slip form shorter than a header
        ((*GOOD_FIXED[:-1], b"s" * 5000), ValueError),  # slip form too big to render
        (drawn(slip=3), TypeError),
        (drawn(records=(), weights=(), members=()), ValueError),  # no records
        (drawn(records=(b"r" * 16, b"r" * 4), weights=(1, 1), members=(0, 1)), ValueError),
        (drawn(weights=(1, 2)), ValueError),  # one weight per record
        (drawn(weights=(-1,)), ValueError),  # negative weight
        (drawn(members=(0, 1)), ValueError),  # one member slot per record
        (drawn(count=0), ValueError),
        (drawn(draw=3), ValueError),  # no such draw
        (drawn(head=b"\x84"), ValueError),  # head shorter than the counts
        (drawn(tail=b"t" * 5000), ValueError),  # too big to render
        (drawn(records=(b"r" * 16,) * 1025, weights=(1,) * 1025), ValueError),  # members
    ],
)
def test_an_entry_c_cannot_keep_is_refused_with_the_reason(spec, error):
    engine = _native.Engine(SEED, (1000,))
    reply = QUERY[:2] + HEAD
    with pytest.raises(error):
        engine.answer(QUERY, "127.0.0.1", lambda data, host: (reply, spec))
    assert engine.counters()["entries"] == 0


def test_a_well_formed_drawn_entry_is_kept_and_rendered_from_the_table():
    engine = _native.Engine(SEED, (1000,))
    engine.answer(QUERY, "127.0.0.1", lambda data, host: (b"\x00" * 12, GOOD_DRAWN))
    reply = engine.answer(QUERY, "127.0.0.1", None)  # a hit never calls the miss handler
    assert reply == QUERY[:2] + HEAD + b"r" * 16
    assert engine.counters()["member_hits"][0] == 1  # the member it drew, counted


def test_a_well_formed_fixed_entry_answers_with_its_bytes_and_counts_its_members():
    engine = _native.Engine(SEED, (1000,))
    spec = (_native.FIXED, -1, 3, HEAD + b"tail", (2, 5), *RRL)
    engine.answer(QUERY, "127.0.0.1", lambda data, host: (QUERY[:2] + HEAD, spec))
    assert engine.answer(QUERY, "127.0.0.1", None) == QUERY[:2] + HEAD + b"tail"
    counters = engine.counters()
    assert counters["slot_hits"][3] == 1
    assert [counters["member_hits"][i] for i in (2, 5)] == [1, 1]


def test_the_miss_handler_cannot_reenter_the_engine():
    engine = _native.Engine(SEED, (1000,))

    def reenter(data: bytes, host: str) -> tuple[bytes, None]:
        engine.reset()
        return data, None

    with pytest.raises(RuntimeError, match="re-entry"):
        engine.answer(QUERY, "127.0.0.1", reenter)


def test_member_answers_count_what_c_drew_beside_what_python_sampled():
    native = native_udp()
    query = query_wire("shares.example.test.")
    for _ in range(1000):
        native.answer(query, "127.0.0.1")
    counts = native.stats.member_answers
    drawn = counts["shares.example.test. 192.0.2.161"] + counts["shares.example.test. 192.0.2.162"]
    assert 990 <= drawn <= 1010  # C counts each of its 999 exactly; Python's one, sampled
    assert counts["shares.example.test. 192.0.2.161"] > counts["shares.example.test. 192.0.2.162"]


def rrl_defences(clock: list[float], **access: object) -> Defences:
    """BIND's system-test settings (rate 2, slip 3), window 2, on a clock the test steps."""
    config = RrlConfig(responses_per_second=2, slip=3, window_s=2, errors_per_second=1)
    return Defences(limiter=RateLimiter(config), clock=lambda: clock[0], **access)  # type: ignore[arg-type]


@pytest.mark.parametrize("access", [{}, {"access": AccessList(deny=["2.2.3.0/24"])}])
def test_with_rrl_the_c_loop_limits_its_hits_exactly_as_the_python_path_limits(access):
    """Every response through the native plane (C hits, Python misses, C refusals) and
    through the reference path gets the same verdict: sent, slipped (the TC form, the same
    bytes) or dropped; the C loop's limiter is rrl.py's rules over one table for both."""
    clock = [1000.0]
    native = NativeUdp(
        CachingAnswerer(make_holder(), random.Random(1), defences=rrl_defences(clock, **access)),
        seed=SEED,
    )
    reference = CachingAnswerer(
        make_holder(), random.Random(1), defences=rrl_defences(clock, **access)
    )
    queries = [(q, s) for q, s, t in generated_queries(4000, 9) if t is Transport.UDP]
    outcomes: Counter[str] = Counter()
    for step, (data, source) in enumerate(queries):
        if step % 400 == 0:
            clock[0] += 1
        expected, entry = reference.answer_entry(data, source, Transport.UDP)
        got = native.answer(data, source)
        assert (got is None) is (expected is None), (step, data, source)
        if got is None or expected is None:
            outcomes["dropped"] += 1
            continue
        truncated = dns.message.from_wire(got).flags & dns.flags.TC
        outcomes["slipped" if truncated else "sent"] += 1
        if type(entry) is not Drawn or truncated:
            assert got == expected, (step, data, source)
        else:
            assert dns.message.from_wire(expected).flags & dns.flags.TC == truncated
    limiter = native.cache.defences.limiter
    assert isinstance(limiter, NativeLimiter)
    python = reference.defences.limiter
    assert python is not None
    assert (limiter.dropped, limiter.slipped) == (python.dropped, python.slipped)
    assert limiter.size == python.size
    assert native.counters()["hits"] > 500  # C answered (and limited) many of them itself
    assert min(outcomes.values()) > 100 and len(outcomes) == 3


DENIED = ["2.2.3.4", "175.16.199.7", "::1", "2001:218::5"]  # the SOURCES denying() denies


def denying(action: DenyAction) -> Defences:
    access = AccessList(allow=["127.0.0.0/8", "::/0"], deny=["::1", "2001:218::/32", "::/127"])
    return Defences(access=access, deny_action=action)


@pytest.mark.parametrize("action", list(DenyAction), ids=lambda a: a.value)
def test_denied_sources_get_the_python_paths_bytes_from_c_refused_with_ede_18_or_nothing(action):
    """packet.py _deny is the reference: the C loop's REFUSED + EDE 18 (RFC 8914 §4.19) to a
    denied source is the same bytes, for every shape of query it builds it for itself."""
    native = NativeUdp(
        CachingAnswerer(make_holder(), random.Random(1), defences=denying(action)), seed=SEED
    )
    reference = CachingAnswerer(make_holder(), random.Random(1), defences=denying(action))
    queries = [(q, s) for q, s, _ in generated_queries(3000, 5)]
    queries += [(q[:2] + bytes([q[2] | 0x80]) + q[3:], s) for q, s in queries[:50]]  # QR set
    queries += [(q[:11], s) for q, s in queries[:50]]  # shorter than a header
    refused = 0
    for data, source in queries:
        expected = reference(data, source, Transport.UDP)
        got = native.answer(data, source)
        if source in DENIED:
            assert got == expected, (data, source)
            refused += got is not None
            if got is not None:
                reply = dns.message.from_wire(got)
                assert reply.rcode() == dns.rcode.REFUSED and not reply.answer
    in_c = native.counters()["denied_refused" if action is DenyAction.REFUSE else "denied_dropped"]
    assert reference.defences.denied == native.defences.denied  # counted once, wherever
    assert in_c > 1000 and native.cache.defences.denied[action.value] < 0.05 * in_c
    assert (refused > 1000) is (action is DenyAction.REFUSE)


def test_a_replaced_access_list_is_followed_before_the_next_packet_as_sighup_replaces_it():
    cache = CachingAnswerer(make_holder(), random.Random(1))
    native = NativeUdp(cache, seed=SEED)
    query = query_wire("www.example.test.")
    assert dns.message.from_wire(native.answer(query, "192.0.2.9")).answer
    cache.defences.access = AccessList(deny=["192.0.2.0/24"])
    assert dns.message.from_wire(native.answer(query, "192.0.2.9")).rcode() == dns.rcode.REFUSED
    assert dns.message.from_wire(native.answer(query, "192.0.3.9")).answer  # a hit, allowed
    cache.defences.deny_action = DenyAction.DROP
    assert native.answer(query, "192.0.2.9") is None
    cache.defences.access = None
    assert dns.message.from_wire(native.answer(query, "192.0.2.9")).answer
    assert native.defences.denied == {"refuse": 1, "drop": 1}
    assert native.stats.answered[(dns.rcode.REFUSED, 1, "udp", "")] == 1


def test_access_ranges_collapse_overlapping_and_adjacent_networks_and_c_checks_them():
    access = AccessList(deny=["10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "2001:db8::/32"])
    packed = packed_ranges(access.deny)
    assert len(packed) == 2 * 33  # 10.0.0.0/8 as one range, and the IPv6 one
    engine = _native.Engine(SEED, ())
    for bad in (b"\x04" * 32, b"\x05" + bytes(32), packed[33:] + packed[:33] * 2):
        with pytest.raises((ValueError, TypeError)):
            engine.set_access(bad, b"", False)
    engine.set_access(packed, b"", False)


def per_source(host: str) -> tuple[bytes, tuple[object, ...]]:
    """The reply and the entry of a client network of one address (scope /32): its bytes
    name the address, so an answer meant for another client shows."""
    data = HEAD + bytes(int(octet) for octet in host.split("."))
    return QUERY[:2] + data, (_native.FIXED, 32, 0, data, (), *RRL)


def test_a_source_remembered_by_its_address_never_outlives_the_entry_it_was_found_under():
    # more client networks than a query's clients table holds (8192 slots): entries are
    # evicted and moved by growth while their sources are remembered by address
    engine = _native.Engine(SEED, (1000,))
    hosts = [f"10.{i >> 8 & 255}.{i & 255}.1" for i in range(12_000)]
    misses: list[str] = []

    def miss(data: bytes, host: str) -> tuple[bytes, tuple[object, ...]]:
        misses.append(host)
        return per_source(host)

    for host in hosts:
        for _ in range(3):  # kept; found by the scope walk and remembered; found by address
            assert engine.answer(QUERY, host, miss) == per_source(host)[0]
    assert engine.counters()["evictions"] > 0
    misses.clear()
    for host in hosts:  # each asks again: its own answer, from C or (evicted) from Python
        assert engine.answer(QUERY, host, miss) == per_source(host)[0], host
    assert 0 < len(misses) < len(hosts)


def test_clients_of_one_scope_network_at_different_addresses_share_its_entry():
    engine = _native.Engine(SEED, (1000,))
    data, other = HEAD + b"the /24", HEAD + b"another /24"
    for host, reply in (("10.0.0.1", data), ("10.0.1.1", other)):
        entry = (_native.FIXED, 24, 0, reply, (), *RRL)
        engine.answer(QUERY, host, lambda d, h, entry=entry: (QUERY[:2] + entry[3], entry))
    for _ in range(3):  # None: a hit never calls the miss handler
        for host in ("10.0.0.1", "10.0.0.2", "10.0.0.254", "10.0.0.2"):
            assert engine.answer(QUERY, host, None) == QUERY[:2] + data
        for host in ("10.0.1.1", "10.0.1.77"):
            assert engine.answer(QUERY, host, None) == QUERY[:2] + other
    assert engine.counters()["hits"] == 18
