"""The consistent hash ring behind sticky: stable points, weights, minimal remapping."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from geodns.pools.hashring import (
    MAX_POINTS,
    POINTS_PER_MEMBER,
    HashRing,
    RingNode,
    key_point,
    stable_hash64,
    virtual_node_counts,
)


def _ring(count: int, weight: int = 100) -> HashRing:
    return HashRing([RingNode(i, f"192.0.2.{i + 1}", weight) for i in range(count)])


def _subnets(count: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [(rng.getrandbits(24) << 8) << 8 | 24 for _ in range(count)]  # /24 keys


def test_points_are_fixed_values_the_same_in_every_process() -> None:
    # blake2b, not hash(): Python salts hash() per process (PYTHONHASHSEED), which would
    # send a client to a different member after every restart and on every other node
    assert stable_hash64(b"192.0.2.1#0") == 0x2D25905706B1467A
    assert key_point(0x01020300 << 8 | 24) == 0xD3606E3EC459ABEB


def test_equal_weights_get_points_per_member_each() -> None:
    assert virtual_node_counts([100] * 10) == [POINTS_PER_MEMBER] * 10
    assert len(_ring(10)) == 10 * POINTS_PER_MEMBER


def test_point_counts_follow_weights_with_a_minimum_of_one_and_a_total_cap() -> None:
    assert virtual_node_counts([300, 100]) == [384, 128]
    assert virtual_node_counts([65535, 1]) == [512, 1]
    assert virtual_node_counts([100, 0]) == [256, 0]
    huge = virtual_node_counts([65535] * 500)
    assert sum(huge) <= MAX_POINTS + 500 and min(huge) >= 1


def test_same_key_always_maps_to_the_same_member() -> None:
    ring, again = _ring(10), _ring(10)
    for key in _subnets(1000):
        assert ring.lookup(key) == again.lookup(key) == ring.lookup(key)


def test_shares_follow_weights() -> None:
    ring = HashRing([RingNode(0, "192.0.2.1", 300), RingNode(1, "192.0.2.2", 100)])
    shares = Counter(ring.lookup(key) for key in _subnets(20000))
    assert abs(shares[0] / 20000 - 0.75) < 0.05  # ring shares are weight shares +- ~6%


def test_unusable_member_is_skipped_clockwise_to_the_next_usable_one() -> None:
    ring = _ring(3)
    for key in _subnets(200):
        chain = ring.walk(key, None, 3)
        assert ring.lookup(key) == chain[0] and sorted(chain) == [0, 1, 2]
        assert ring.lookup(key, {chain[1], chain[2]}) == chain[1]  # a set of usable indexes

        def up(index: int, down: int = chain[0]) -> bool:  # or a predicate
            return index != down

        assert ring.lookup(key, up) == chain[1]


def test_no_usable_member_gives_none_and_an_empty_ring_gives_none() -> None:
    assert _ring(3).lookup(12345, set()) is None
    assert HashRing([]).lookup(12345) is None
    assert HashRing([]).walk(12345, None, 2) == []


def test_walk_returns_distinct_usable_members_up_to_count() -> None:
    ring = _ring(5)
    chain = ring.walk(99, {0, 2, 4}, 8)
    assert sorted(chain) == [0, 2, 4]
    assert ring.walk(99, None, 2) == ring.walk(99, None, 5)[:2]


def test_removing_one_of_ten_equal_members_remaps_only_its_own_clients() -> None:
    ring, keys = _ring(10), _subnets(10_000)
    before = {key: ring.lookup(key) for key in keys}
    usable = set(range(10)) - {3}
    moved = [key for key in keys if ring.lookup(key, usable) != before[key]]
    assert all(before[key] == 3 for key in moved)
    assert moved == [key for key in keys if before[key] == 3]
    assert 0.07 < len(moved) / len(keys) < 0.13  # its ~10% share


@settings(max_examples=10, deadline=None)
@given(
    removed=st.integers(min_value=0, max_value=9),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_property_a_member_leaving_moves_only_its_clients_health_or_rebuild(
    removed: int, seed: int
) -> None:
    nodes = [RingNode(i, f"198.51.100.{i + 1}", 100) for i in range(10)]
    ring = HashRing(nodes)
    rebuilt = HashRing([n for n in nodes if n.index != removed])  # same points for the others
    keys = _subnets(10_000, seed)
    usable = set(range(10)) - {removed}
    moved = 0
    for key in keys:
        owner = ring.lookup(key)
        after_down, after_rebuild = ring.lookup(key, usable), rebuilt.lookup(key)
        assert after_down == after_rebuild
        if owner != removed:
            assert after_down == owner
        else:
            moved += 1
    assert 0.06 < moved / len(keys) < 0.14
