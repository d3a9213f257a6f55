"""Probes' votes over simulated time (geodns.health.votes)."""

from __future__ import annotations

import pytest
from reports import R, at

from geodns.health.votes import decide, next_expiry


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
