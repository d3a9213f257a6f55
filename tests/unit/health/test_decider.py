"""HealthDecider: votes then damping, and the redecision plan (geodns.health.decider)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reports import AR, R, at

from geodns.health.damping import NO_HISTORY, FlapDamper, FlapHistory
from geodns.health.decider import HealthDecider


def test_the_decider_marks_damped_decisions() -> None:
    decider = HealthDecider(damper=FlapDamper(max_changes=1, window_s=100, hold_s=50))
    history = NO_HISTORY
    for second, down in [(0, True), (1, False), (2, True), (3, False)]:
        decision = decider.decide([R("p", down, "x", at(second))], history, at(second))
        history = decision.history
    assert (decision.down, decision.damped, decision.votes) == (True, True, {"p": False})
    assert decision.reason.startswith("flapping:")
    assert history.held_until == at(3).timestamp() + 50


def test_the_decider_has_the_store_decide_shape() -> None:
    decider = HealthDecider()
    reports = [AR("a", True, "http 503"), AR("b", True, "http 503"), AR("c", False)]
    decision = decider(reports, NO_HISTORY, at(1))
    assert (decision.down, decision.reason) == (True, "http 503 (a, b)")
    assert decision.votes == {"a": True, "b": True, "c": False}
    assert decision.history == FlapHistory(raw_down=True, changes=(at(1).timestamp(),))
    assert decider([], decision.history, at(2)).history.raw_down is False


# -- the redecision plan: which decisions a store writes --------------------------------


@dataclass(frozen=True)
class Memory:
    """Damping memory in a form of its own, as the store keeps it (not a FlapHistory)."""

    raw_down: bool = False
    changes: tuple[float, ...] = ()
    held_until: float | None = None


@dataclass(frozen=True)
class Stored:
    """An address's stored state (the StoredState protocol)."""

    down: bool
    reason: str
    probes: Mapping[str, bool] = field(default_factory=dict)
    history: Memory = Memory()


def test_an_address_never_stored_that_nobody_votes_on_is_not_written() -> None:
    plan = HealthDecider().plan({"192.0.2.1": []}, {}, None, at(0))
    assert (plan.decisions, plan.next_due) == ({}, None)


def test_an_address_never_stored_with_a_live_vote_is_written() -> None:
    plan = HealthDecider().plan({"192.0.2.1": [R("p", False)]}, {}, None, at(0))
    [(address, decision)] = plan.decisions.items()
    assert (address, decision.down, decision.votes) == ("192.0.2.1", False, {"p": False})
    assert plan.next_due == at(60)  # the vote expires then: decide again


def test_a_stored_state_that_the_votes_confirm_is_not_written_again() -> None:
    reports = {"192.0.2.1": [R("p", True, "http 503")]}
    first = HealthDecider().plan(reports, {}, None, at(0)).decisions["192.0.2.1"]
    history = Memory(first.history.raw_down, first.history.changes, first.history.held_until)
    stored = {"192.0.2.1": Stored(True, "http 503 (p)", {"p": True}, history)}
    plan = HealthDecider().plan(reports, stored, None, at(1))
    assert (plan.decisions, plan.next_due) == ({}, at(60))  # still due: the vote expires


def test_a_stored_state_the_votes_no_longer_confirm_is_written() -> None:
    stored = {"192.0.2.1": Stored(True, "http 503 (p)", {"p": True}, Memory(True, (0.0,)))}
    plan = HealthDecider().plan({}, stored, None, at(61))  # the only vote has expired
    [decision] = plan.decisions.values()
    assert (decision.down, decision.reason, decision.votes) == (False, "", {})


def test_always_writes_every_named_address_even_when_nothing_moved() -> None:
    plan = HealthDecider().plan({"192.0.2.1": []}, {}, ["192.0.2.1"], at(0), always=True)
    assert list(plan.decisions) == ["192.0.2.1"]


def test_without_addresses_every_reported_or_stored_address_is_decided_in_order() -> None:
    reports = {"192.0.2.9": [R("p", True)], "192.0.2.1": [R("p", True)]}
    stored = {"192.0.2.5": Stored(True, "gone", {"q": True})}
    plan = HealthDecider().plan(reports, stored, None, at(0))
    assert list(plan.decisions) == ["192.0.2.1", "192.0.2.5", "192.0.2.9"]


def test_the_plan_is_due_at_the_earliest_change_of_any_address_written_or_not() -> None:
    reports = {
        "192.0.2.1": [R("p", True, ttl_s=30)],
        "192.0.2.2": [R("p", True, ttl_s=10)],
    }
    plan = HealthDecider().plan(reports, {}, ["192.0.2.1"], at(0))
    assert plan.next_due == at(30)
    assert HealthDecider().plan(reports, {}, None, at(0)).next_due == at(10)
