"""Flap damping: an address that keeps changing state is held down until it is stable.

Pure: no I/O, no clock of its own: times are Unix seconds passed in. The damper is the
policy only; each address's memory is a FlapHistory that the caller keeps (the store,
beside the address's state, which hands it back as any DampingMemory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class DampingMemory(Protocol):
    """What flap damping remembers of one address, however it was kept (FlapHistory, or the
    store's row of it)."""

    @property
    def raw_down(self) -> bool: ...
    @property
    def changes(self) -> tuple[float, ...]: ...
    @property
    def held_until(self) -> float | None: ...


def hold_end(memory: DampingMemory, now: float) -> float | None:
    """held_until while it is still ahead of now; None when not held."""
    held_until = memory.held_until
    return held_until if held_until is not None and now < held_until else None


def memory_key(memory: DampingMemory) -> tuple[bool, tuple[float, ...], float | None]:
    """The memory as a value, to compare memories kept in different forms."""
    return (memory.raw_down, tuple(memory.changes), memory.held_until)


@dataclass(frozen=True, slots=True)
class FlapHistory:
    """What flap damping remembers of one address, stored beside its decided state.

    Kept in the database (address_health), not in a process, so every node sharing the
    store damps an address alike: a node that never saw the flaps reads them here.
    Times are Unix seconds. raw_down: the latest voted state, before damping (a never-seen
    address counts as up); changes: when the voted state changed, newest last, only those
    inside the window that can still count; held_until: while now is before it, the
    address is served down whatever the votes say.
    """

    raw_down: bool = False
    changes: tuple[float, ...] = ()
    held_until: float | None = None

    def held(self, now: float) -> bool:
        return hold_end(self, now) is not None

    def hold_end(self, now: float) -> float | None:
        """held_until while it is still ahead of now; None when not held."""
        return hold_end(self, now)


NO_HISTORY = FlapHistory()


@dataclass(frozen=True, slots=True)
class Damped:
    down: bool
    held: bool  # down because of damping, whatever the votes say
    reason: str
    history: FlapHistory  # what to store for the next decision


class FlapDamper:
    """Keeps an address that keeps changing state down until it has been stable a while.

    An address whose raw (voted) state changed more than max_changes times within
    window_s is held down until the raw state has not changed for hold_s. Defaults: 4
    changes in 300 s, hold 120 s. One restart is two changes and two restarts within five
    minutes (a deploy, then a fix) are four, which still pass; a fifth change in five
    minutes is a backend that cannot stay up. With the default checks (interval 10 s,
    rise 2, fall 3) one real down-up cycle takes at least 50 s, so five changes in 300 s
    is not noise of the checker itself. A hold of 120 s is six clean rise windows: long
    enough to trust, short enough that a fixed backend is back within two minutes.

    The damper holds only the policy; each address's memory is a FlapHistory the caller
    keeps (the store, in the transaction that decides).
    """

    def __init__(
        self, max_changes: int = 4, window_s: float = 300.0, hold_s: float = 120.0
    ) -> None:
        if max_changes < 1 or window_s <= 0 or hold_s < 0:
            raise ValueError("max_changes >= 1, window_s > 0 and hold_s >= 0 are required")
        self.max_changes = max_changes
        self.window_s = window_s
        self.hold_s = hold_s

    def apply(self, history: DampingMemory, down: bool, now: float) -> Damped:
        """The state to serve when the votes say down at now, and the history to keep."""
        changes = history.changes
        held_until = history.held_until
        if down != history.raw_down:
            changes += (now,)
            if hold_end(history, now) is not None:  # latched: a change restarts the hold
                held_until = now + self.hold_s
        # only the newest max_changes + 1 inside the window can ever tip the count
        changes = tuple(t for t in changes if t > now - self.window_s)[-(self.max_changes + 1) :]
        if len(changes) > self.max_changes:
            held_until = max(held_until or -math.inf, changes[-1] + self.hold_s)
        kept = FlapHistory(down, changes, held_until)
        if not kept.held(now):
            return Damped(down, False, "", FlapHistory(down, changes, None))
        reason = (
            f"flapping: more than {self.max_changes} changes in {self.window_s:g}s, "
            f"held down until stable for {self.hold_s:g}s"
        )
        return Damped(True, not down, reason, kept)
