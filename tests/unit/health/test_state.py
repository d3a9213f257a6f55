"""Pure health state over simulated time: rise/fall, votes, flap damping, adaptive weights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodns.health.state import (
    NO_HISTORY,
    AdaptiveWeights,
    CheckState,
    Damped,
    FlapDamper,
    FlapHistory,
    HealthDecider,
    Result,
    Status,
    decide,
    next_expiry,
    step_weight,
    target_weight,
    weight_bounds,
)
from geodns.pools.model import Check, CheckType, Member, Policy, Pool

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
OK = Result(True, 0.01, "http 200")
FAIL = Result(False, 2.0, "http 503")


@dataclass(frozen=True)
class R:
    """A report as the store returns it (the Vote protocol)."""

    probe: str
    down: bool
    reason: str = ""
    reported_at: datetime = T0
    ttl_s: float = 60.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- rise / fall ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "status"), [(OK, Status.UP), (FAIL, Status.DOWN)], ids=["ok-up", "fail-down"]
)
def test_first_result_decides_an_unknown_check(first: Result, status: Status) -> None:
    state = CheckState(rise=2, fall=3)
    assert state.status is Status.UNKNOWN
    assert state.observe(first, 1.0) is True
    assert (state.status, state.since, state.reason) == (status, 1.0, first.reason)


def test_up_goes_down_only_after_fall_failures_in_a_row() -> None:
    state = CheckState(rise=2, fall=3)
    state.observe(OK, 0)
    changes = [state.observe(r, t) for t, r in enumerate([FAIL, FAIL, OK, FAIL, FAIL], 1)]
    assert changes == [False] * 5 and state.status is Status.UP  # the OK broke the run
    assert state.observe(FAIL, 6) is True
    assert (state.status, state.since, state.reason) == (Status.DOWN, 6, "http 503")


def test_down_comes_up_only_after_rise_successes_in_a_row() -> None:
    state = CheckState(rise=2, fall=3)
    state.observe(FAIL, 0)
    assert [state.observe(r, t) for t, r in enumerate([OK, FAIL, OK], 1)] == [False] * 3
    assert state.observe(OK, 4) is True and state.status is Status.UP


def test_down_keeps_the_latest_failure_reason() -> None:
    state = CheckState(rise=2, fall=1)
    state.observe(FAIL, 0)
    state.observe(Result(False, 2.0, "timeout after 2.0s"), 1)
    assert state.reason == "timeout after 2.0s"


def test_a_seeded_state_needs_rise_or_fall_to_change() -> None:
    state = CheckState(rise=2, fall=2, initial=Status.UP)
    assert state.observe(FAIL, 0) is False
    assert state.observe(FAIL, 1) is True


def test_rise_and_fall_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CheckState(rise=0, fall=3)


# -- votes ----------------------------------------------------------------------------


def test_one_liar_among_three_probes_keeps_the_address_up() -> None:
    reports = [R("node-a", False), R("probe-eu1", True, "timeout"), R("probe-us1", False)]
    decision = decide(reports, at(1))
    assert (decision.down, decision.live, decision.quorum) == (False, 3, 2)
    assert decision.votes == {"node-a": False, "probe-eu1": True, "probe-us1": False}
    assert decision.reason == ""


def test_two_of_three_probes_down_takes_the_address_down() -> None:
    reports = [R("node-a", True, "http 503"), R("probe-eu1", True, "http 503"), R("p3", False)]
    decision = decide(reports, at(1))
    assert decision.down is True
    assert decision.reason == "http 503 (node-a, probe-eu1)"


def test_expiry_returns_the_address_to_the_remaining_votes() -> None:
    reports = [
        R("node-a", True, "http 503", ttl_s=30),
        R("probe-eu1", True, "timeout", ttl_s=120),
        R("probe-us1", False, ttl_s=120),
    ]
    assert decide(reports, at(29)).down is True
    later = decide(reports, at(30))  # node-a's report has expired: 1 of 2 live says down
    assert (later.down, later.live, later.votes) == (
        False,
        2,
        {"probe-eu1": True, "probe-us1": False},
    )
    assert next_expiry(reports, at(29)) == at(30)


def test_a_single_probe_decides_alone() -> None:
    assert decide([R("node-a", True, "connect refused")], at(0)).reason == (
        "connect refused (node-a)"
    )
    assert decide([R("node-a", False)], at(0)).down is False


def test_no_live_report_means_up() -> None:
    decision = decide([R("node-a", True, ttl_s=10)], at(10))
    assert (decision.down, decision.live, decision.votes) == (False, 0, {})


@pytest.mark.parametrize(
    ("quorum", "down"), [(1, True), (2, True), (3, False)], ids=["q1", "q2", "q3"]
)
def test_an_explicit_quorum_counts_down_votes(quorum: int, down: bool) -> None:
    reports = [R("a", True), R("b", True), R("c", False), R("d", False)]
    assert decide(reports, at(0), quorum).down is down


def test_even_split_is_not_a_majority() -> None:
    assert decide([R("a", True), R("b", False)], at(0)).down is False


def test_the_newest_report_of_a_probe_counts() -> None:
    reports = [R("a", True, reported_at=at(0)), R("a", False, reported_at=at(5))]
    assert decide(reports, at(6)).votes == {"a": False}


def test_quorum_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="quorum"):
        decide([], at(0), 0)


# -- flap damping ---------------------------------------------------------------------


class Flapper:
    """One address's FlapHistory threaded through a damper, as the store does."""

    def __init__(self, damper: FlapDamper) -> None:
        self.damper = damper
        self.history = NO_HISTORY

    def apply(self, down: bool, now: float) -> Damped:
        damped = self.damper.apply(self.history, down, now)
        self.history = damped.history
        return damped

    def release_at(self) -> float | None:
        return self.history.held_until


def flap(flapper: Flapper, times: list[float]) -> list[bool]:
    """Alternate down/up at the given times; the served down flag after each."""
    return [flapper.apply(i % 2 == 0, t).down for i, t in enumerate(times)]


def test_up_to_max_changes_in_the_window_pass_undamped() -> None:
    flapper = Flapper(FlapDamper(max_changes=4, window_s=300, hold_s=120))
    assert flap(flapper, [0, 30, 60, 90]) == [True, False, True, False]


def test_more_changes_than_max_hold_the_address_down_until_stable() -> None:
    flapper = Flapper(FlapDamper(max_changes=4, window_s=300, hold_s=120))
    flap(flapper, [0, 30, 60, 90])
    held = flapper.apply(True, 100)  # the fifth change in 300 s
    assert (held.down, held.held) == (True, False)  # down anyway: not held against the votes
    up = flapper.apply(False, 110)  # sixth: the votes say up, it stays down
    assert (up.down, up.held) == (True, True)
    assert up.reason == "flapping: more than 4 changes in 300s, held down until stable for 120s"
    assert flapper.release_at() == 230
    assert flapper.apply(False, 229).down is True
    released = flapper.apply(False, 230)
    assert (released.down, released.held) == (False, False)
    assert flapper.release_at() is None


def test_a_change_while_held_restarts_the_hold() -> None:
    flapper = Flapper(FlapDamper(max_changes=2, window_s=100, hold_s=50))
    flap(flapper, [0, 10, 20])
    flapper.apply(False, 30)
    assert flapper.apply(True, 60).down is True
    assert flapper.apply(False, 70).held is True
    assert flapper.release_at() == 120


def test_a_hold_longer_than_the_window_outlives_the_changes_that_caused_it() -> None:
    flapper = Flapper(FlapDamper(max_changes=2, window_s=10, hold_s=60))
    flap(flapper, [0, 1, 2, 3])  # down, up, down, up: held from the third change
    assert flapper.apply(False, 30).held is True  # every change left the window at 13
    assert flapper.history.changes == ()
    assert flapper.apply(False, 63).down is False


def test_changes_spread_wider_than_the_window_never_damp() -> None:
    flapper = Flapper(FlapDamper(max_changes=2, window_s=100, hold_s=50))
    assert flap(flapper, [0, 60, 120, 180, 240, 300]) == [True, False] * 3


def test_the_history_keeps_only_the_changes_that_can_still_count() -> None:
    flapper = Flapper(FlapDamper(max_changes=2, window_s=100, hold_s=0))
    flap(flapper, [float(t) for t in range(50)])  # hold 0: never held, never stops flapping
    assert flapper.history.changes == (47.0, 48.0, 49.0)  # max_changes + 1, newest last


def test_applying_the_damper_leaves_the_history_it_was_given_alone() -> None:
    damper = FlapDamper(max_changes=1, window_s=100, hold_s=50)
    history = FlapHistory(raw_down=True, changes=(1.0, 2.0), held_until=52.0)
    after = damper.apply(history, False, 3)
    assert history == FlapHistory(True, (1.0, 2.0), 52.0)
    assert (after.down, after.held, after.history.held_until) == (True, True, 53.0)


def test_the_decider_marks_damped_decisions() -> None:
    decider = HealthDecider(damper=FlapDamper(max_changes=1, window_s=100, hold_s=50))
    history = NO_HISTORY
    for second, down in [(0, True), (1, False), (2, True), (3, False)]:
        decision = decider.decide([R("p", down, "x", at(second))], history, at(second))
        history = decision.history
    assert (decision.down, decision.damped, decision.votes) == (True, True, {"p": False})
    assert decision.reason.startswith("flapping:")
    assert history.held_until == at(3).timestamp() + 50


# -- adaptive weights -----------------------------------------------------------------

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
        check=Check(CheckType.TCP, port=80, interval=interval),
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


@dataclass(frozen=True)
class AR(R):
    address: str = "192.0.2.1"


def test_the_decider_has_the_store_decide_shape() -> None:
    decider = HealthDecider()
    reports = [AR("a", True, "http 503"), AR("b", True, "http 503"), AR("c", False)]
    decision = decider(reports, NO_HISTORY, at(1))
    assert (decision.down, decision.reason) == (True, "http 503 (a, b)")
    assert decision.votes == {"a": True, "b": True, "c": False}
    assert decision.history == FlapHistory(raw_down=True, changes=(at(1).timestamp(),))
    assert decider([], decision.history, at(2)).history.raw_down is False


def test_state_module_stays_pure() -> None:
    """state.py imports no asyncio, aiohttp, sqlalchemy, store, clock or randomness."""
    import ast
    from pathlib import Path

    import geodns.health.state as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    banned = ("asyncio", "aiohttp", "sqlalchemy", "geodns.store", "time", "random", "socket")
    assert sorted(i for i in imported if i.split(".")[0] in banned or i.startswith(banned)) == []
