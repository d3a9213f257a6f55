"""The built-in checker: scheduled results -> rise/fall -> this node's report per address.

Control plane: asyncio. Owns a CheckScheduler, a CheckState per target and the adaptive
weights; hands each changed (or due) report to a sink, which the app points at the store
through HealthRecorder (below), the store-side glue every report path shares.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from geodns.health.adaptive import AdaptiveWeights
from geodns.health.decider import HealthDecider
from geodns.health.probes import run_check
from geodns.health.scheduler import DEFAULT_CONCURRENCY, GRACE_S, CheckScheduler, Probe, Target
from geodns.health.state import CheckState, Result, Status
from geodns.pools.model import Check, Policy, Pool
from geodns.store.repository import HealthChange, Report, Store

log = logging.getLogger(__name__)


DUE_SLACK_S = 0.01  # redecide just after a report's expiry, when it no longer counts


def first_report_timeout_s(added: Iterable[Target]) -> float:
    """How long to wait for new targets' first reports: the longest of their timeouts,
    plus the grace the scheduler allows a probe and one second to store the reports."""
    return max((t.check.timeout_s for t in added), default=0.0) + GRACE_S + 1.0


def report_ttl_s(check: Check) -> float:
    """How long a report from a check of this kind stays a vote: three intervals and a
    timeout, so two lost rounds never expire it and a dead node's votes go within ~30 s."""
    return 3 * check.interval_s + check.timeout_s


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """This node's opinion of one address, as Store.save_report takes it."""

    address: str
    down: bool
    reason: str
    ttl_s: float


ReportSink = Callable[[ProbeReport], Awaitable[None]]


class HealthChecker:
    """Checks every pool member and reports each address's state to sink.

    An address with several checks (pools with different checks) is down when any of
    them is down; it is reported once its first check has a result, again on every
    change, and at least every half report TTL so the report never expires while the node
    lives. Reports go out one at a time from one task, the newest per address; a failing
    sink is retried every retry_s. on_weights(weights) is called when adaptive weights
    change (address -> effective weight, for HealthView.effective_weights).
    """

    def __init__(
        self,
        sink: ReportSink,
        *,
        probe: Probe = run_check,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        weights: AdaptiveWeights | None = None,
        on_weights: Callable[[dict[str, int]], None] | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self._sink = sink
        self.scheduler = CheckScheduler(
            self._on_result, probe=probe, clock=clock, rng=rng, max_concurrency=max_concurrency
        )
        self.weights = weights if weights is not None else AdaptiveWeights()
        self._on_weights = on_weights
        self._retry_s = retry_s
        self._states: dict[Target, CheckState] = {}
        self._down: set[Target] = set()
        self._by_address: dict[str, list[Target]] = {}
        self._adaptive: dict[str, list[Pool]] = {}  # address -> adaptive pools holding it
        self._sent: dict[str, tuple[ProbeReport, float]] = {}  # address -> (report, when)
        self._pending: dict[str, ProbeReport] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    # -- what the app calls -----------------------------------------------------------

    def update(self, pools: Sequence[Pool]) -> set[Target]:
        """Check the members of pools from now on; returns the targets new to this call.

        Call on start and on every pool change. When targets were added, await
        wait_first_reports(first_report_timeout_s(added)) before publishing the pools.
        """
        added, _ = self.scheduler.update(pools)
        current = self.scheduler.targets
        for target in set(self._states) - current:
            del self._states[target]
            self._down.discard(target)
        by_address: dict[str, list[Target]] = {}
        for target in sorted(current, key=str):
            by_address.setdefault(target.address, []).append(target)
        self._by_address = by_address
        for address in set(self._sent) - by_address.keys():
            del self._sent[address]
        adaptive: dict[str, list[Pool]] = {}
        for pool in pools:
            if pool.policy is Policy.ADAPTIVE and pool.check is not None:
                for member in pool.members:
                    adaptive.setdefault(member.address, []).append(pool)
        self._adaptive = adaptive
        self.weights.retain(pools)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_reports(), name="health reports")
        return added

    async def wait_first_reports(self, timeout_s: float) -> bool:
        """Wait until every current target has a result and its report left through the
        sink; False if timeout_s ran out first (first_report_timeout_s(added) is a fair
        bound). Await after update() added targets, before publishing the new pools."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        if not await self.scheduler.wait_first_results(timeout_s):
            return False
        try:
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def status(self, target: Target) -> CheckState | None:
        return self._states.get(target)

    def last_latency_s(self, address: str) -> float | None:
        """The latest check result's latency on address, the slowest when several checks
        look at it (None: not checked here, or no result yet)."""
        latencies = [
            state.last.latency_s
            for target in self._by_address.get(address, ())
            if (state := self._states.get(target)) is not None and state.last is not None
        ]
        return max(latencies, default=None)

    def effective_weights(self) -> dict[str, int]:
        return self.weights.effective_weights()

    async def close(self) -> None:
        await self.scheduler.close()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    # -- scheduler results ------------------------------------------------------------

    def _on_result(self, target: Target, result: Result, now: float) -> None:
        check = target.check
        state = self._states.setdefault(target, CheckState(check.rise, check.fall))
        if state.observe(result, now):
            if state.status is Status.DOWN:
                self._down.add(target)
            else:
                self._down.discard(target)
            log.info(
                "check changed target=%s status=%s reason=%s",
                target,
                state.status.value,
                state.reason,
            )
        if result.ok:
            self.weights.observe(target.address, result.latency_s)
        self._consider_report(target.address, now)
        self._step_weights(target.address, now)

    def _consider_report(self, address: str, now: float) -> None:
        report = self._report_of(address)
        if report is None:
            return
        sent = self._sent.get(address)
        if sent is not None:
            previous, at = sent
            fresh = now - at < report.ttl_s / 2
            if fresh and (previous.down, previous.reason) == (report.down, report.reason):
                return
        self._sent[address] = (report, now)
        self._pending[address] = report
        self._idle.clear()
        self._wakeup.set()

    def _report_of(self, address: str) -> ProbeReport | None:
        known = [
            (target, state)
            for target in self._by_address.get(address, ())
            if (state := self._states.get(target)) is not None
            and state.status is not Status.UNKNOWN
        ]
        if not known:
            return None
        ttl = max(report_ttl_s(target.check) for target, _ in known)
        for target, state in known:
            if state.status is Status.DOWN:
                reason = state.reason if len(known) == 1 else f"{target}: {state.reason}"
                return ProbeReport(address, True, reason, ttl)
        return ProbeReport(address, False, known[0][1].reason, ttl)

    def _step_weights(self, address: str, now: float) -> None:
        pools = self._adaptive.get(address)
        if not pools:
            return
        down = {target.address for target in self._down}
        changed = False
        for pool in pools:
            changed |= self.weights.step(pool, down, now)
        if changed and self._on_weights is not None:
            self._on_weights(self.weights.effective_weights())

    async def _write_reports(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            address = next(iter(self._pending))
            report = self._pending.pop(address)
            try:
                await self._sink(report)
            except Exception as exc:  # background loop: log, back off, go on
                log.warning("health report not saved address=%s error=%s", address, exc)
                self._pending.setdefault(address, report)  # unless a newer one is waiting
                await asyncio.sleep(self._retry_s)


# -- the store side: every report path (this checker, the API) decides the same way ------


class HealthRecorder:
    """Stores probes' reports and the decided state of their addresses.

    record() saves a report and re-decides its address in one store transaction
    (Store.record_reports, the path the API's POST /health/reports takes too, with the
    same HealthDecider); redecide_all(), which run() calls, votes again over every address
    (Store.redecide_health), because reports expire and damping releases without any new
    report. Both run under the store's writers' lock and read the flap history stored
    with the state, so every node sharing the database decides alike.

    run() redecides when the store said something is next due (a report expiring, a hold
    ending), when due_by() was told of an earlier time (this node stored a report), and
    at least every ceiling_s: that sweep catches reports other nodes stored whose node
    has died since (a live node redecides its own on time). A redecision is a write
    transaction; once a second, whether due or not, it cost the event loop that answers
    DNS some 6 ms a second for nothing.
    on_transition(change) is called once per up <-> down change this recorder stored.
    """

    def __init__(
        self,
        store: Store,
        decider: HealthDecider | None = None,
        *,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_transition: Callable[[HealthChange], None] | None = None,
    ) -> None:
        self.store = store
        self.decider = decider if decider is not None else HealthDecider()
        self._wall_clock = wall_clock
        self._on_transition = on_transition
        self.next_due: datetime | None = None  # when run() redecides next, at the latest
        self._sooner = asyncio.Event()

    def due_by(self, when: datetime | None) -> None:
        """A decision may change by itself at when: make run() redecide by then."""
        if when is not None and (self.next_due is None or when < self.next_due):
            self.next_due = when
            self._sooner.set()

    async def record(
        self,
        probe: str,
        address: str,
        down: bool,
        reason: str,
        ttl_s: float,
        now: datetime | None = None,
    ) -> HealthChange:
        """Store probe's report and the address's state decided over every probe's reports."""
        now = now if now is not None else self._wall_clock()
        report = Report(probe, address, down, reason, now, ttl_s)
        [change] = await self.store.record_reports(probe, [report], now, self.decider)
        self._transitioned(change)
        self.due_by(change.due)
        return change

    def sink(self, probe: str) -> ReportSink:
        """A HealthChecker sink storing its reports under probe (this node's name)."""

        async def save(report: ProbeReport) -> None:
            await self.record(probe, report.address, report.down, report.reason, report.ttl_s)

        return save

    async def redecide_all(self, now: datetime | None = None) -> list[str]:
        """Vote again over every address with reports or a stored state; store what
        differs. Returns the addresses whose served state (down, reason) changed."""
        now = now if now is not None else self._wall_clock()
        redecided = await self.store.redecide_health(now, self.decider)
        self.next_due = redecided.next_due
        for change in redecided.changes:
            self._transitioned(change)
        return [change.address for change in redecided.changes if change.changed]

    async def run(self, ceiling_s: float = 5.0, retry_s: float = 1.0) -> None:
        """redecide_all when due, and at least every ceiling_s, until cancelled; a store
        outage is logged and retried every retry_s."""
        while True:
            self._sooner.clear()
            try:
                await self.redecide_all()
            except Exception as exc:  # background loop: log, back off, go on
                log.warning("health redecision failed error=%s", exc)
                self.next_due = None  # not known until a redecision succeeds
                await self._sleep_until_due(retry_s)
                continue
            await self._sleep_until_due(ceiling_s)

    async def _sleep_until_due(self, ceiling_s: float) -> None:
        """Sleep until next_due (just after it), or ceiling_s at most; due_by() may bring
        next_due forward meanwhile."""
        loop = asyncio.get_running_loop()
        ceiling = loop.time() + ceiling_s
        while True:
            deadline = ceiling
            if self.next_due is not None:
                until_due = (self.next_due - self._wall_clock()).total_seconds()
                deadline = min(ceiling, loop.time() + max(0.0, until_due) + DUE_SLACK_S)
            try:
                async with asyncio.timeout_at(deadline):
                    await self._sooner.wait()
            except TimeoutError:
                return
            self._sooner.clear()

    def _transitioned(self, change: HealthChange) -> None:
        if not change.transition:
            return
        state = "down" if change.down else "up"
        log.info("address %s address=%s reason=%s", state, change.address, change.reason)
        if self._on_transition is not None:
            self._on_transition(change)
