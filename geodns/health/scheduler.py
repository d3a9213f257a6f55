"""CheckScheduler: one asyncio task per distinct (address, check), run on its interval.

Control plane: asyncio, no decisions (state.py) and no sockets of its own (the injected
probe, probes.run_check by default). Never touches the DNS path: results leave through a
synchronous callback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from geodns.health.probes import run_check
from geodns.health.state import Result
from geodns.pools.model import Check, CheckType, Pool

log = logging.getLogger(__name__)

Probe = Callable[[str, Check], Awaitable[Result]]
OnResult = Callable[["Target", Result, float], None]

DEFAULT_CONCURRENCY = 64
GRACE_S = 1.0  # a probe that overstays its own timeout by this much is cut off


@dataclass(frozen=True, slots=True)
class Target:
    """What is checked: an address and the whole check (a changed check is a new target)."""

    address: str
    check: Check

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        path = "" if self.check.type is CheckType.TCP else self.check.path
        return f"{self.check.type.value}://{host}:{self.check.effective_port}{path}"


def targets_of(pools: Iterable[Pool]) -> set[Target]:
    """Every distinct (address, check) of pools with a check.

    Disabled and drained (weight 0) members are checked too (issue 5 §6): their health is
    known before they are put back.
    """
    return {Target(m.address, p.check) for p in pools if p.check is not None for m in p.members}


def next_run_at(previous: float, interval_s: float, now: float) -> float:
    """The first slot previous + k x interval (k >= 1) after now: fixed rate, no drift,
    and a check that overran skips the slots it missed instead of running back to back."""
    missed = max(0, math.floor((now - previous) / interval_s))
    return previous + (missed + 1) * interval_s


class CheckScheduler:
    """Runs every target's check on its interval and hands each result to on_result.

    Spread versus a quick first result: a new target checks at once (its pool's first
    answers wait for that result, bounded by one timeout), then at a random phase within
    one interval, then every interval at that phase. So first checks come in a burst,
    which the concurrency cap (a semaphore, 64 by default) keeps bounded, and every later
    round is spread over the interval. Time spent waiting for the semaphore is not part
    of a check's timeout. on_result(target, result, now) runs in the loop: keep it short.
    """

    def __init__(
        self,
        on_result: OnResult,
        *,
        probe: Probe = run_check,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        grace_s: float = GRACE_S,
    ) -> None:
        self._on_result = on_result
        self._grace_s = grace_s
        self._probe = probe
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._limit = asyncio.Semaphore(max_concurrency)
        self._tasks: dict[Target, asyncio.Task[None]] = {}
        self._answered: set[Target] = set()  # current targets with at least one result
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False

    @property
    def targets(self) -> frozenset[Target]:
        return frozenset(self._tasks)

    def has_result(self, target: Target) -> bool:
        return target in self._answered

    def update(self, pools: Sequence[Pool]) -> tuple[set[Target], set[Target]]:
        """Check exactly the targets of pools from now on; returns (added, removed).

        Call inside the running loop, after every change of pools; unchanged targets keep
        their schedule. Removed ones (deleted pool or member, changed check) stop at once.
        """
        if self._closed:
            raise RuntimeError("CheckScheduler is closed")
        wanted = targets_of(pools)
        removed = set(self._tasks) - wanted
        added = wanted - set(self._tasks)
        for target in removed:
            self._tasks.pop(target).cancel()
            self._answered.discard(target)
        for target in sorted(added, key=str):
            self._tasks[target] = asyncio.create_task(self._run(target), name=f"check {target}")
        if added or removed:
            log.debug(
                "checks updated targets=%d added=%d removed=%d",
                len(self._tasks),
                len(added),
                len(removed),
            )
        if removed:
            self._wake()  # a waiter may have been waiting only on a removed target
        return added, removed

    async def wait_first_results(self, timeout_s: float) -> bool:
        """Wait until every current target has a result; False if timeout_s ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._answered >= self._tasks.keys():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True

    async def close(self) -> None:
        """Cancel every check and wait for the tasks to end."""
        self._closed = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._answered.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._wake()

    # -- internals --------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def _run(self, target: Target) -> None:
        interval = target.check.interval_s
        await self._check_once(target)
        next_at = self._now() + self._rng.uniform(0, interval)
        while True:
            await asyncio.sleep(max(0.0, next_at - self._now()))
            await self._check_once(target)
            next_at = next_run_at(next_at, interval, self._now())

    async def _check_once(self, target: Target) -> None:
        timeout = target.check.timeout_s
        async with self._limit:
            started = self._now()
            try:
                async with asyncio.timeout(timeout + self._grace_s):
                    result = await self._probe(target.address, target.check)
            except TimeoutError:
                result = Result(False, self._now() - started, f"timeout after {float(timeout)}s")
            except Exception as exc:  # a probe bug: a failed check, logged, the loop goes on
                log.warning("check raised target=%s error=%r", target, exc)
                result = Result(False, self._now() - started, f"probe error: {type(exc).__name__}")
        if self._tasks.get(target) is not asyncio.current_task():
            return  # removed while it ran
        self._answered.add(target)
        try:
            self._on_result(target, result, self._now())
        except Exception:
            log.exception("on_result failed target=%s", target)
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
