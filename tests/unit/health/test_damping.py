"""Flap damping over simulated time (geodns.health.damping)."""

from __future__ import annotations

from geodns.health.damping import NO_HISTORY, Damped, FlapDamper, FlapHistory


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
