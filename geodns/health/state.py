"""Health decisions as pure state machines: rise/fall, probe votes, flap damping, adaptive weights.

Pure: no I/O, no asyncio, no clock of its own: every time is a `now` argument (monotonic
seconds as float, except `decide`, which compares the store's aware datetimes) and nothing
here is random. probes.py measures, scheduler.py times, checker.py wires these to the store.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from geodns.pools.model import Policy, Pool


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


# -- votes ----------------------------------------------------------------------------


class Vote(Protocol):
    """One probe's latest report on an address (geodns.store.repository.Report fits)."""

    @property
    def probe(self) -> str: ...
    @property
    def down(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def reported_at(self) -> datetime: ...
    @property
    def ttl_s(self) -> float: ...


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
        return self.hold_end(now) is not None

    def hold_end(self, now: float) -> float | None:
        """held_until while it is still ahead of now; None when not held."""
        return self.held_until if self.held_until is not None and now < self.held_until else None


NO_HISTORY = FlapHistory()


@dataclass(frozen=True, slots=True)
class Decision:
    """The state an address should be served in, and the live votes behind it.

    votes maps probe name -> says down (the shape Store.set_address_health stores).
    history is the flap damping memory to store with it (HealthDecider fills it in).
    """

    down: bool
    reason: str  # "" when up
    votes: dict[str, bool]
    live: int  # probes whose report had not expired
    quorum: int  # down votes needed (0 when no probe is live)
    damped: bool = False  # held down by flap damping although the votes say up
    history: FlapHistory = NO_HISTORY  # the damping memory to store with it
    # when the decision can next change with no new report (a live report expiring, a
    # hold ending): when to decide again; None: not by itself (HealthDecider fills it in)
    due: datetime | None = None


def is_live(report: Vote, now: datetime) -> bool:
    """A report counts while now < reported_at + ttl."""
    return now < report.reported_at + timedelta(seconds=report.ttl_s)


def decide(reports: Iterable[Vote], now: datetime, quorum: int | None = None) -> Decision:
    """Vote over the live reports: down when at least `quorum` live probes say down.

    quorum None: a strict majority of the live probes (one probe: that probe). No live
    report: up. Unknown counts as up because an address only reaches a pool through an
    operator who put it there, and a probe that dies, or never started, must not pull it
    out of every answer; the fail-open and region guards in selection deal with the rest.
    An explicit quorum above the number of live probes cannot be met: the address is up.
    Several reports of one probe: its newest counts.
    """
    if quorum is not None and quorum < 1:
        raise ValueError(f"quorum must be at least 1, not {quorum}")
    newest: dict[str, Vote] = {}
    for report in reports:
        if is_live(report, now):
            kept = newest.get(report.probe)
            if kept is None or report.reported_at >= kept.reported_at:
                newest[report.probe] = report
    live = [newest[probe] for probe in sorted(newest)]
    votes = {r.probe: r.down for r in live}
    if not live:
        return Decision(False, "", votes, 0, 0)
    needed = quorum if quorum is not None else len(live) // 2 + 1
    against = [r for r in live if r.down]
    if len(against) < needed:
        return Decision(False, "", votes, len(live), needed)
    return Decision(True, _down_reason(against), votes, len(live), needed)


def _down_reason(against: Iterable[Vote]) -> str:
    """Each reason with its probes: "http 503 (node-a, probe-eu1); timeout after 2.0s (p3)"."""
    by_reason: dict[str, list[str]] = {}
    for report in against:
        by_reason.setdefault(report.reason or "reported down", []).append(report.probe)
    return "; ".join(f"{reason} ({', '.join(probes)})" for reason, probes in by_reason.items())


def next_expiry(reports: Iterable[Vote], now: datetime) -> datetime | None:
    """When the earliest live report expires (the decision may change then by itself)."""
    ends = [r.reported_at + timedelta(seconds=r.ttl_s) for r in reports if is_live(r, now)]
    return min(ends, default=None)


# -- flap damping ---------------------------------------------------------------------


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

    def apply(self, history: FlapHistory, down: bool, now: float) -> Damped:
        """The state to serve when the votes say down at now, and the history to keep."""
        changes = history.changes
        held_until = history.held_until
        if down != history.raw_down:
            changes += (now,)
            if history.held(now):  # latched: a change while held restarts the hold
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


class HealthDecider:
    """decide() then FlapDamper: the one policy that turns reports into served states.

    Stateless: the damper's memory of an address comes in and goes out as a FlapHistory,
    which the store keeps in the same transaction as the decided state, so every node and
    every path (reports arriving, the redecision for expiry and release) decides alike.
    Read-only callers (explain, dashboards) use the module's decide(). Calling the
    decider itself has the shape of geodns.store's Decide, for Store.record_reports and
    Store.redecide_health.
    """

    def __init__(self, quorum: int | None = None, damper: FlapDamper | None = None) -> None:
        self.quorum = quorum
        self.damper = damper if damper is not None else FlapDamper()

    def decide(self, reports: Iterable[Vote], history: FlapHistory, now: datetime) -> Decision:
        reports = tuple(reports)
        voted = decide(reports, now, self.quorum)
        damped = self.damper.apply(history, voted.down, now.timestamp())
        hold_end = damped.history.hold_end(now.timestamp())
        ends = [next_expiry(reports, now), None if hold_end is None else _utc(hold_end)]
        due = min((end for end in ends if end is not None), default=None)
        if not damped.held:
            return replace(voted, history=damped.history, due=due)
        return Decision(
            True, damped.reason, voted.votes, voted.live, voted.quorum, True, damped.history, due
        )

    def __call__(self, reports: Iterable[Vote], history: FlapHistory, now: datetime) -> Decision:
        return self.decide(reports, history, now)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- adaptive weights -----------------------------------------------------------------


def target_weight(
    configured: int, latency_s: float, fastest_s: float, floor_fraction: float
) -> float:
    """configured x fastest / latency, within [floor_fraction x configured, configured]."""
    ratio = fastest_s / latency_s if latency_s > 0 else 1.0
    return configured * min(1.0, max(floor_fraction, ratio))


def weight_bounds(configured: int, floor_fraction: float) -> tuple[int, int]:
    """The lowest and highest effective weight allowed for a configured weight."""
    return min(configured, math.ceil(floor_fraction * configured - 1e-9)), configured


def step_weight(
    current: int, target: float, configured: int, floor_fraction: float, max_step_fraction: float
) -> int:
    """Move current toward target by at most max(1, max_step_fraction x configured), in bounds."""
    low, high = weight_bounds(configured, floor_fraction)
    cap = max(1, math.floor(max_step_fraction * configured + 1e-9))
    goal = min(high, max(low, round(target)))
    current = min(high, max(low, current))
    return current + max(-cap, min(cap, goal - current))


class AdaptiveWeights:
    """Effective weights of adaptive pools' members from their check latency.

    observe() records each successful check's latency; an address's latency is the median
    of its last `samples` (5). step(pool, ...) moves every healthy member's effective
    weight toward configured x fastest / its latency, at most max_step_fraction x
    configured per step and never outside [floor_fraction x configured, configured]; it
    steps a pool at most once per check interval. Latencies under latency_floor_s count
    as latency_floor_s: below a few milliseconds differences are noise, not capacity.
    A median, not an EWMA: with an EWMA one 25x spike dragged a member from 100 to 30
    over the following intervals; the median ignores any jitter shorter than half the
    window, and a real slowdown (three checks of five) still moves the weight, one
    bounded step per interval, so jitter on one member cannot push its load onto the
    others (DESIGN.md, the avalanche). Down and drained members keep their last value;
    new ones start at their configured weight. An address in several adaptive pools gets
    the weight computed in the first of them by name (HealthView.effective_weights is
    per address).
    """

    def __init__(
        self,
        floor_fraction: float = 0.2,
        max_step_fraction: float = 0.25,
        samples: int = 5,
        latency_floor_s: float = 0.005,
    ) -> None:
        if not (0 <= floor_fraction <= 1 and 0 < max_step_fraction <= 1 and samples >= 1):
            raise ValueError(
                "need 0 <= floor_fraction <= 1, 0 < max_step_fraction <= 1, samples >= 1"
            )
        self.floor_fraction = floor_fraction
        self.max_step_fraction = max_step_fraction
        self.samples = samples
        self.latency_floor_s = latency_floor_s
        self._samples: dict[str, deque[float]] = {}
        self._latency: dict[str, float] = {}  # address -> median of its samples
        self._weights: dict[str, dict[str, int]] = {}  # pool name -> address -> weight
        self._stepped: dict[str, float] = {}  # pool name -> when it last stepped

    def observe(self, address: str, latency_s: float) -> None:
        window = self._samples.setdefault(address, deque(maxlen=self.samples))
        window.append(max(latency_s, self.latency_floor_s))
        self._latency[address] = statistics.median_low(window)

    def latency(self, address: str) -> float | None:
        """The median of address's recent latencies in seconds (None: no sample yet)."""
        return self._latency.get(address)

    def step(self, pool: Pool, down: Collection[str], now: float) -> bool:
        """One step for pool if its check interval has passed since the last; True on change."""
        if pool.policy is not Policy.ADAPTIVE or pool.check is None:
            return False
        last = self._stepped.get(pool.name)
        if last is not None and now - last < pool.check.interval:
            return False
        self._stepped[pool.name] = now
        before = self._weights.get(pool.name, {})
        members = [m for m in pool.members if m.enabled and m.weight > 0]
        healthy = [m for m in members if m.address not in down]
        measured = [self._latency[m.address] for m in healthy if m.address in self._latency]
        fastest = min(measured, default=None)
        after: dict[str, int] = {}
        for m in members:
            current = before.get(m.address, m.weight)
            latency = self._latency.get(m.address)
            if m.address in down:  # excluded from answers anyway: keep its value
                low, high = weight_bounds(m.weight, self.floor_fraction)
                after[m.address] = min(high, max(low, current))
                continue
            goal = (
                float(m.weight)
                if latency is None or fastest is None
                else target_weight(m.weight, latency, fastest, self.floor_fraction)
            )
            after[m.address] = step_weight(
                current, goal, m.weight, self.floor_fraction, self.max_step_fraction
            )
        self._weights[pool.name] = after
        return after != before

    def retain(self, pools: Iterable[Pool]) -> None:
        """Forget pools that are gone or no longer adaptive, and addresses nobody checks."""
        kept = {p.name: p for p in pools if p.policy is Policy.ADAPTIVE and p.check is not None}
        for name in set(self._weights) - set(kept):
            del self._weights[name]
            self._stepped.pop(name, None)
        addresses = {m.address for p in kept.values() for m in p.members}
        for address in set(self._latency) - addresses:
            del self._latency[address], self._samples[address]

    def weights(self, pool_name: str) -> dict[str, int]:
        return dict(self._weights.get(pool_name, {}))

    def effective_weights(self) -> dict[str, int]:
        """address -> effective weight, for HealthView.effective_weights."""
        merged: dict[str, int] = {}
        for name in sorted(self._weights):
            for address, weight in self._weights[name].items():
                merged.setdefault(address, weight)
        return merged
