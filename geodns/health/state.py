"""Rise/fall of one (address, check): the state machine the built-in checker keeps per target.

Pure: no I/O, no asyncio, no clock of its own: every time is a `now` argument (monotonic
seconds). The other health policies have a module each: votes.py (probes' reports ->
a decision), damping.py (flap damping), decider.py (both together, and the redecision
plan), adaptive.py (weights from latency). probes.py measures, scheduler.py times,
checker.py wires these to the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    """One check's outcome: ok, how long it took (seconds), and why ("http 503")."""

    ok: bool
    latency_s: float
    reason: str


class Status(enum.Enum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


class CheckState:
    """Rise/fall hysteresis of one (address, check).

    Starts UNKNOWN, and the first result decides (ok: UP, failed: DOWN): issue 5 wants a
    new pool's first answers to wait for one real result rather than answer blind, and a
    member nobody has seen answer yet is no safer to send clients to after one failure
    than after three. From then on it takes `rise` successes in a row to come up and
    `fall` failures in a row to go down. `initial` seeds a known state (e.g. the stored
    one after a restart), which then needs rise/fall results to change like any other.
    """

    __slots__ = ("rise", "fall", "status", "since", "reason", "last", "_run")

    def __init__(self, rise: int = 2, fall: int = 3, initial: Status = Status.UNKNOWN) -> None:
        if rise < 1 or fall < 1:
            raise ValueError(f"rise and fall must be at least 1, not {rise} and {fall}")
        self.rise = rise
        self.fall = fall
        self.status = initial
        self.since: float | None = None  # when status last changed (None: never)
        self.reason = ""  # the latest result's reason that agrees with status
        self.last: Result | None = None
        self._run = 0  # results in a row that disagree with status

    def observe(self, result: Result, now: float) -> bool:
        """Take one result; True when the status changed."""
        self.last = result
        wanted = Status.UP if result.ok else Status.DOWN
        if self.status is wanted:
            self._run = 0
            self.reason = result.reason
            return False
        self._run += 1
        needed = self.rise if result.ok else self.fall
        if self.status is not Status.UNKNOWN and self._run < needed:
            return False
        self.status, self.since, self.reason, self._run = wanted, now, result.reason, 0
        return True
