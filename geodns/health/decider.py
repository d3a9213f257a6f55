"""HealthDecider: votes then flap damping, the one policy that turns reports into served
states, and the redecision plan: which addresses' decisions a store must write.

Pure: no I/O, no clock of its own. The store calls plan() inside the transaction that
read the reports and the stored states (under the writers' lock), through its own
HealthPolicy Protocol, and writes what the plan says; it decides nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from geodns.health.damping import NO_HISTORY, DampingMemory, FlapDamper, memory_key
from geodns.health.votes import Decision, Vote, decide, next_expiry


class StoredState(Protocol):
    """An address's decided state as stored (geodns.store.repository.AddressState fits)."""

    @property
    def down(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def probes(self) -> Mapping[str, bool]: ...
    @property
    def history(self) -> DampingMemory: ...


@dataclass(frozen=True, slots=True)
class Redecision:
    """What a store writes after deciding again: address -> decision, in address order, only
    those the plan says to write; and the earliest time any decided address's decision
    can change by itself (a report expiring, a hold ending)."""

    decisions: dict[str, Decision]
    next_due: datetime | None


def needs_writing(stored: StoredState | None, decision: Decision) -> bool:
    """Whether a redecision must store decision: not for a never-stored address that is up
    with nobody voting and nothing to remember (it already counts as up), nor for one
    whose stored state, votes and damping memory are what the decision says."""
    if stored is None:
        return decision.down or bool(decision.votes) or decision.history != NO_HISTORY
    return (stored.down, stored.reason, dict(stored.probes), memory_key(stored.history)) != (
        decision.down,
        decision.reason,
        decision.votes,
        memory_key(decision.history),
    )


class HealthDecider:
    """decide() then FlapDamper: the one policy that turns reports into served states.

    Stateless: the damper's memory of an address comes in and goes out as a FlapHistory,
    which the store keeps in the same transaction as the decided state, so every node and
    every path (reports arriving, the redecision for expiry and release) decides alike.
    Read-only callers (explain, dashboards) use geodns.health.votes.decide(). plan() is
    geodns.store's HealthPolicy, for Store.record_reports and Store.redecide_health.
    """

    def __init__(self, quorum: int | None = None, damper: FlapDamper | None = None) -> None:
        self.quorum = quorum
        self.damper = damper if damper is not None else FlapDamper()

    def decide(self, reports: Iterable[Vote], history: DampingMemory, now: datetime) -> Decision:
        reports = tuple(reports)
        voted = decide(reports, now, self.quorum)
        damped = self.damper.apply(history, voted.down, now.timestamp())
        held_to = damped.history.hold_end(now.timestamp())
        ends = [next_expiry(reports, now), None if held_to is None else _utc(held_to)]
        due = min((end for end in ends if end is not None), default=None)
        if not damped.held:
            return replace(voted, history=damped.history, due=due)
        return Decision(
            True, damped.reason, voted.votes, voted.live, voted.quorum, True, damped.history, due
        )

    def __call__(self, reports: Iterable[Vote], history: DampingMemory, now: datetime) -> Decision:
        return self.decide(reports, history, now)

    def plan(
        self,
        reports: Mapping[str, Sequence[Vote]],
        stored: Mapping[str, StoredState],
        addresses: Sequence[str] | None,
        now: datetime,
        *,
        always: bool = False,
    ) -> Redecision:
        """Decide addresses (None: every one with reports or a stored state, in address
        order) from their reports and stored damping memory. always: write every decision
        (a probe's new reports: its HealthChange is wanted even when nothing moved);
        otherwise only those needs_writing() names (the periodic redecision)."""
        chosen = addresses if addresses is not None else sorted(reports.keys() | stored.keys())
        decisions: dict[str, Decision] = {}
        dues = []
        for address in chosen:
            before = stored.get(address)
            memory = NO_HISTORY if before is None else before.history
            decision = self.decide(reports.get(address, ()), memory, now)
            if decision.due is not None:
                dues.append(decision.due)
            if always or needs_writing(before, decision):
                decisions[address] = decision
        return Redecision(decisions, min(dues, default=None))


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
