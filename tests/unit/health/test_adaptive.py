"""Adaptive weights over simulated latencies (geodns.health.adaptive)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from geodns.health.adaptive import AdaptiveWeights, step_weight, target_weight, weight_bounds
from geodns.pools.model import Check, CheckType, Member, Policy, Pool

configured_weights = st.integers(min_value=1, max_value=65535)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
steps = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(configured_weights, st.integers(-100, 70000), st.floats(-1e6, 1e6), fractions, steps)
def test_a_step_stays_in_bounds_and_under_the_cap(
    configured: int, current: int, target: float, floor: float, max_step: float
) -> None:
    low, high = weight_bounds(configured, floor)
    start = min(high, max(low, current))
    after = step_weight(start, target, configured, floor, max_step)
    assert low <= after <= high
    assert low >= floor * configured - 1e-6 or low == high
    assert abs(after - start) <= max(1, max_step * configured + 1e-6)


def adaptive_pool(*weights: int, interval: float = 10.0) -> Pool:
    members = tuple(Member(f"192.0.2.{i}", w) for i, w in enumerate(weights, 1))
    return Pool(
        "www.example.com.",
        members,
        policy=Policy.ADAPTIVE,
        check=Check(CheckType.TCP, port=80, interval_s=interval),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 1000), min_size=1, max_size=5),
    st.lists(st.lists(st.floats(0.0001, 5.0), min_size=5, max_size=5), min_size=1, max_size=30),
)
def test_adaptive_weights_never_leave_bounds_nor_step_past_the_cap(
    weights: list[int], rounds: list[list[float]]
) -> None:
    pool = adaptive_pool(*weights)
    adaptive = AdaptiveWeights(floor_fraction=0.2, max_step_fraction=0.25)
    previous = {m.address: m.weight for m in pool.members}
    for n, latencies in enumerate(rounds):
        for member, latency in zip(pool.members, latencies, strict=False):
            adaptive.observe(member.address, latency)
        adaptive.step(pool, set(), now=n * 10.0)
        current = adaptive.weights(pool.name)
        for m in pool.members:
            w = current[m.address]
            assert 0.2 * m.weight - 1e-9 <= w <= m.weight
            assert abs(w - previous[m.address]) <= max(1, 0.25 * m.weight)
        previous = current


def test_a_slow_member_loses_weight_a_step_per_interval_down_to_its_share() -> None:
    pool = adaptive_pool(100, 100)
    adaptive = AdaptiveWeights(floor_fraction=0.2, max_step_fraction=0.25, samples=1)
    history = []
    for n in range(5):
        adaptive.observe("192.0.2.1", 0.010)
        adaptive.observe("192.0.2.2", 0.020)  # twice as slow: half the weight
        adaptive.step(pool, set(), now=n * 10.0)
        history.append(adaptive.weights(pool.name)["192.0.2.2"])
    assert history == [75, 50, 50, 50, 50]
    assert adaptive.weights(pool.name)["192.0.2.1"] == 100


def test_a_very_slow_member_stops_at_the_floor() -> None:
    pool = adaptive_pool(100, 100)
    adaptive = AdaptiveWeights(samples=1)
    for n in range(10):
        adaptive.observe("192.0.2.1", 0.010)
        adaptive.observe("192.0.2.2", 5.0)
        adaptive.step(pool, set(), now=n * 10.0)
    assert adaptive.weights(pool.name)["192.0.2.2"] == 20


def test_a_jitter_shorter_than_half_the_window_does_not_move_the_weight() -> None:
    pool = adaptive_pool(100, 100, 100)
    adaptive = AdaptiveWeights()  # median of 5 samples, step 25 %
    weights = []
    for n, spike in enumerate([0.020, 0.020, 0.500, 0.400, 0.020, 0.020, 0.020]):
        for address in ("192.0.2.1", "192.0.2.3"):
            adaptive.observe(address, 0.020)
        adaptive.observe("192.0.2.2", spike)  # two checks 20-25x slower than usual
        adaptive.step(pool, set(), now=n * 10.0)
        weights.append(adaptive.weights(pool.name)["192.0.2.2"])
    assert weights == [100] * 7


def test_a_sustained_slowdown_moves_the_weight_once_it_is_most_of_the_window() -> None:
    pool = adaptive_pool(100, 100)
    adaptive = AdaptiveWeights()
    weights = []
    for n in range(8):
        adaptive.observe("192.0.2.1", 0.020)
        adaptive.observe("192.0.2.2", 0.020 if n < 2 else 0.080)  # 4x slower from check 3
        adaptive.step(pool, set(), now=n * 10.0)
        weights.append(adaptive.weights(pool.name)["192.0.2.2"])
    assert weights == [100, 100, 100, 100, 75, 50, 25, 25]


def test_steps_come_at_most_once_per_check_interval() -> None:
    pool = adaptive_pool(100, 100, interval=10.0)
    adaptive = AdaptiveWeights(samples=1)
    adaptive.observe("192.0.2.1", 0.01)
    adaptive.observe("192.0.2.2", 1.0)
    assert adaptive.step(pool, set(), now=0) is True
    assert adaptive.step(pool, set(), now=9.9) is False
    assert adaptive.weights(pool.name)["192.0.2.2"] == 75
    assert adaptive.step(pool, set(), now=10) is True


def test_down_and_drained_members_keep_their_weight_and_do_not_set_the_pace() -> None:
    pool = adaptive_pool(100, 100, 0)
    adaptive = AdaptiveWeights(samples=1)
    adaptive.observe("192.0.2.1", 0.001)  # fastest, but down
    adaptive.observe("192.0.2.2", 0.050)
    adaptive.observe("192.0.2.3", 0.010)  # drained: not in the pool's weights at all
    adaptive.step(pool, {"192.0.2.1"}, now=0)
    assert adaptive.weights(pool.name) == {"192.0.2.1": 100, "192.0.2.2": 100}


def test_effective_weights_merge_pools_first_name_wins_and_retain_forgets() -> None:
    a = adaptive_pool(100, 100)
    b = Pool("api.example.com.", (Member("192.0.2.2", 10),), policy=Policy.ADAPTIVE, check=a.check)
    adaptive = AdaptiveWeights(samples=1)
    adaptive.observe("192.0.2.1", 0.01)
    adaptive.observe("192.0.2.2", 0.04)
    adaptive.step(a, set(), 0)
    adaptive.step(b, set(), 0)
    assert adaptive.effective_weights() == {"192.0.2.2": 10, "192.0.2.1": 100}
    adaptive.retain([a])
    assert adaptive.effective_weights() == {"192.0.2.1": 100, "192.0.2.2": 75}
    adaptive.retain([])
    assert adaptive.effective_weights() == {} and adaptive.latency("192.0.2.1") is None


def test_target_weight_follows_latency_within_floor_and_configured() -> None:
    assert target_weight(100, 0.02, 0.01, 0.2) == 50
    assert target_weight(100, 0.01, 0.01, 0.2) == 100
    assert target_weight(100, 1.0, 0.01, 0.2) == 20


def test_non_adaptive_pools_never_step() -> None:
    pool = Pool("w.example.com.", (Member("192.0.2.1"),), check=Check(CheckType.TCP, port=80))
    assert AdaptiveWeights().step(pool, set(), 0) is False
