"""Rise/fall of one check over simulated results (geodns.health.state)."""

from __future__ import annotations

import pytest

from geodns.health.state import CheckState, Result, Status

OK = Result(True, 0.01, "http 200")
FAIL = Result(False, 2.0, "http 503")


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
