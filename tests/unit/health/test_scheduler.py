"""CheckScheduler with an injected probe: lifecycle, timing, dedup, the concurrency cap.

The probe here is a function the test controls (no sockets); tests/integration/
test_health_scheduler.py runs the same scheduler against real loopback backends.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from polling import until

from geodns.health.scheduler import CheckScheduler, Target, next_run_at, targets_of
from geodns.health.state import Result
from geodns.pools.model import Check, CheckType, Member, Pool

FAST = Check(CheckType.TCP, port=80, interval_s=0.05, timeout_s=0.2)


def pool(name: str, *addresses: str, check: Check | None = FAST, **member: Any) -> Pool:
    return Pool(name, tuple(Member(a, **member) for a in addresses), check=check)


class Recorder:
    """A probe that records every call and answers from a table (default: ok)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: Counter[Target] = Counter()
        self.results: list[tuple[Target, Result, float]] = []
        self.answers: dict[str, Result] = {}
        self.delay_s = delay_s
        self.running = 0
        self.most_running = 0

    async def probe(self, address: str, check: Check) -> Result:
        self.calls[Target(address, check)] += 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return self.answers.get(address, Result(True, 0.001, "connect ok"))
        finally:
            self.running -= 1

    def on_result(self, target: Target, result: Result, now: float) -> None:
        self.results.append((target, result, now))


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_targets_are_distinct_address_check_pairs_across_pools() -> None:
    other = Check(CheckType.HTTP, port=8080, path="/health", interval_s=0.05)
    pools = [
        pool("a.example.com.", "192.0.2.1", "192.0.2.2"),
        pool("b.example.com.", "192.0.2.2", "192.0.2.3"),
        pool("c.example.com.", "192.0.2.1", check=other),
        pool("d.example.com.", "192.0.2.9", check=None),
    ]
    assert {str(t) for t in targets_of(pools)} == {
        "tcp://192.0.2.1:80",
        "tcp://192.0.2.2:80",
        "tcp://192.0.2.3:80",
        "http://192.0.2.1:8080/health",
    }


def test_disabled_and_drained_members_are_still_checked_issue5_s6() -> None:
    pools = [
        Pool(
            "a.example.com.",
            (Member("192.0.2.1", weight=0), Member("192.0.2.2", enabled=False)),
            check=FAST,
        )
    ]
    assert {t.address for t in targets_of(pools)} == {"192.0.2.1", "192.0.2.2"}


@pytest.mark.parametrize(
    ("previous", "now", "expected"),
    [(10.0, 10.0, 15.0), (10.0, 14.9, 15.0), (10.0, 15.0, 20.0), (10.0, 27.0, 30.0)],
    ids=["on-time", "just-before", "at-slot", "overran-two-slots"],
)
def test_next_run_keeps_a_fixed_rate_and_skips_missed_slots(
    previous: float, now: float, expected: float
) -> None:
    assert next_run_at(previous, 5.0, now) == expected


def test_a_new_target_checks_at_once_then_on_its_interval() -> None:
    async def body() -> None:
        probe = Recorder()
        scheduler = CheckScheduler(probe.on_result, probe=probe.probe, rng=random.Random(1))
        loop = asyncio.get_running_loop()
        started = loop.time()
        scheduler.update([pool("a.example.com.", "192.0.2.1")])
        assert await scheduler.wait_first_results(1.0) is True
        assert loop.time() - started < 0.05
        await until(lambda: len(probe.results) >= 6)
        await scheduler.close()
        times = [now for _, _, now in probe.results]
        gaps = [b - a for a, b in zip(times[1:], times[2:], strict=False)]
        assert all(0.03 < gap < 0.09 for gap in gaps), gaps  # every interval (0.05 s)

    run(body)


def test_one_check_per_target_however_many_pools_share_it() -> None:
    async def body() -> None:
        probe = Recorder()
        scheduler = CheckScheduler(probe.on_result, probe=probe.probe)
        scheduler.update([pool("a.example.com.", "192.0.2.1"), pool("b.example.com.", "192.0.2.1")])
        await until(lambda: sum(probe.calls.values()) >= 5)
        await scheduler.close()
        assert list(probe.calls) == [Target("192.0.2.1", FAST)]

    run(body)


def test_removed_and_changed_checks_stop_and_new_ones_start() -> None:
    async def body() -> None:
        probe = Recorder()
        scheduler = CheckScheduler(probe.on_result, probe=probe.probe)
        scheduler.update([pool("a.example.com.", "192.0.2.1", "192.0.2.2")])
        await until(lambda: probe.calls[Target("192.0.2.2", FAST)] >= 2)
        slower = Check(CheckType.TCP, port=81, interval_s=0.05, timeout_s=0.2)
        added, removed = scheduler.update([pool("a.example.com.", "192.0.2.1", check=slower)])
        assert added == {Target("192.0.2.1", slower)}
        assert removed == {Target("192.0.2.1", FAST), Target("192.0.2.2", FAST)}
        stopped = Counter(probe.calls)
        await until(lambda: probe.calls[Target("192.0.2.1", slower)] >= 4)
        assert probe.calls[Target("192.0.2.2", FAST)] == stopped[Target("192.0.2.2", FAST)]
        assert probe.calls[Target("192.0.2.1", FAST)] == stopped[Target("192.0.2.1", FAST)]
        scheduler.update([])
        assert scheduler.targets == frozenset()
        await scheduler.close()

    run(body)


def test_the_concurrency_cap_holds() -> None:
    async def body() -> None:
        probe = Recorder(delay_s=0.02)
        scheduler = CheckScheduler(probe.on_result, probe=probe.probe, max_concurrency=3)
        scheduler.update([pool("a.example.com.", *(f"192.0.2.{i}" for i in range(1, 21)))])
        assert await scheduler.wait_first_results(2.0) is True
        await scheduler.close()
        assert probe.most_running == 3

    run(body)


def test_waiting_for_first_results_is_bounded_by_its_timeout() -> None:
    async def body() -> None:
        probe = Recorder(delay_s=10)
        hung = Check(CheckType.TCP, port=80, interval_s=0.05, timeout_s=5)
        scheduler = CheckScheduler(probe.on_result, probe=probe.probe)
        scheduler.update([pool("a.example.com.", "192.0.2.1", check=hung)])
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await scheduler.wait_first_results(0.1) is False
        assert 0.09 < loop.time() - started < 0.5
        scheduler.update([])  # the only waited-for target is gone: nothing left to wait for
        assert await scheduler.wait_first_results(0.1) is True
        await scheduler.close()

    run(body)


def test_a_probe_that_overstays_its_timeout_or_raises_is_a_failed_result() -> None:
    async def body() -> None:
        async def broken(address: str, check: Check) -> Result:
            if address == "192.0.2.1":
                await asyncio.sleep(10)
            raise RuntimeError("bug")

        results: dict[str, Result] = {}

        def first(target: Target, result: Result, _now: float) -> None:
            results.setdefault(target.address, result)

        quick = Check(CheckType.TCP, port=80, interval_s=5, timeout_s=0.01)
        scheduler = CheckScheduler(first, probe=broken, grace_s=0.05)
        scheduler.update([pool("a.example.com.", "192.0.2.1", "192.0.2.2", check=quick)])
        assert await scheduler.wait_first_results(2.0)
        await scheduler.close()
        assert results["192.0.2.1"].reason == "timeout after 0.01s"
        assert results["192.0.2.2"] == Result(
            False, results["192.0.2.2"].latency_s, "probe error: RuntimeError"
        )

    run(body)


def test_close_cancels_every_check() -> None:
    async def body() -> None:
        probe = Recorder()
        scheduler = CheckScheduler(probe.on_result, probe=probe.probe)
        scheduler.update([pool("a.example.com.", "192.0.2.1")])
        await scheduler.wait_first_results(1.0)
        await scheduler.close()
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no check task is left
        with pytest.raises(RuntimeError, match="closed"):
            scheduler.update([])

    run(body)
