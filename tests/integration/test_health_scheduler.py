"""CheckScheduler and HealthChecker with the real probes against real loopback backends.

Backends start, stop and restart; the tests poll with deadlines for the results to follow.
Intervals are 0.05-0.1 s so every test takes well under a few seconds.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from integration.health_backends import HttpBackend, TcpBackend
from polling import until

from geodns import __version__
from geodns.health.checker import HealthChecker, ProbeReport
from geodns.health.probes import run_check
from geodns.health.scheduler import CheckScheduler, Target
from geodns.health.state import Result
from geodns.pools.model import Check, CheckType, Member, Pool

HTTP = Check(CheckType.HTTP, path="/health", interval_s=0.05, timeout_s=0.5, rise=2, fall=2)


def pool(name: str, check: Check, *members: Member) -> Pool:
    return Pool(name, members, check=check)


class Results:
    def __init__(self) -> None:
        self.by_target: dict[Target, list[Result]] = {}

    def __call__(self, target: Target, result: Result, now: float) -> None:
        self.by_target.setdefault(target, []).append(result)

    def count(self, target: Target) -> int:
        return len(self.by_target.get(target, ()))

    def last(self, target: Target) -> Result | None:
        found = self.by_target.get(target)
        return found[-1] if found else None


def test_results_follow_a_backend_that_stops_and_restarts() -> None:
    async def body() -> None:
        backend = await HttpBackend("127.0.0.2").start()
        check = replace(HTTP, port=backend.port)
        results = Results()
        scheduler = CheckScheduler(results)
        scheduler.update([pool("www.example.com.", check, Member("127.0.0.2"))])
        target = Target("127.0.0.2", check)
        try:
            assert await scheduler.wait_first_results(check.timeout_s) is True
            first = results.last(target)
            assert first is not None and (first.ok, first.reason) == (True, "http ok")
            backend.status = 503
            await until(lambda: (r := results.last(target)) is not None and r.reason == "http 503")
            await backend.stop()
            await until(
                lambda: (r := results.last(target)) is not None and r.reason == "connect refused"
            )
            backend.status = 200
            await backend.start()
            await until(lambda: (r := results.last(target)) is not None and r.ok)
        finally:
            await scheduler.close()
            await backend.stop()
        assert {r["User-Agent"] for r in backend.requests} == {
            f"geodns/{__version__} (health check)"
        }

    asyncio.run(body())


def test_two_pools_sharing_a_member_and_check_cause_one_check() -> None:
    async def body() -> None:
        backend = await HttpBackend("127.0.0.3").start()
        check = replace(HTTP, port=backend.port)
        results = Results()
        scheduler = CheckScheduler(results)
        scheduler.update(
            [
                pool("www.example.com.", check, Member("127.0.0.3")),
                pool("api.example.com.", check, Member("127.0.0.3", weight=5)),
            ]
        )
        target = Target("127.0.0.3", check)
        try:
            await until(lambda: results.count(target) >= 5)
        finally:
            await scheduler.close()
            await backend.stop()
        assert scheduler.targets == frozenset()
        assert list(results.by_target) == [target]
        # one request per result: nobody else checked this backend
        assert len(backend.requests) == results.count(target)

    asyncio.run(body())


def test_a_removed_pool_stops_checking_and_a_changed_check_moves() -> None:
    async def body() -> None:
        kept = await HttpBackend("127.0.0.4").start()
        gone = await TcpBackend("127.0.0.5").start()
        kept_check = replace(HTTP, port=kept.port)
        tcp = Check(CheckType.TCP, port=gone.port, interval_s=0.05, timeout_s=0.5)
        calls: Counter[Target] = Counter()

        async def counted(address: str, check: Check) -> Result:
            calls[Target(address, check)] += 1
            return await run_check(address, check)

        scheduler = CheckScheduler(lambda *_: None, probe=counted)
        www = pool("www.example.com.", kept_check, Member("127.0.0.4"))
        scheduler.update([www, pool("old.example.com.", tcp, Member("127.0.0.5"))])
        try:
            await until(lambda: gone.accepted >= 3)
            scheduler.update([www])  # old.example.com deleted
            removed_calls = calls[Target("127.0.0.5", tcp)]  # no check can start after this
            settled = calls[Target("127.0.0.4", kept_check)] + 1
            await until(lambda: calls[Target("127.0.0.4", kept_check)] >= settled)
            accepted = gone.accepted  # at most one check was in flight at the update
            await until(lambda: calls[Target("127.0.0.4", kept_check)] >= settled + 5)
            assert gone.accepted == accepted
            assert calls[Target("127.0.0.5", tcp)] == removed_calls

            moved = replace(kept_check, path="/ready")
            scheduler.update([replace(www, check=moved)])
            await until(lambda: calls[Target("127.0.0.4", moved)] >= 2)
            paths = [r["path"] for r in kept.requests]
            before = paths.count("/health")
            await until(lambda: calls[Target("127.0.0.4", moved)] >= 6)
            assert [r["path"] for r in kept.requests].count("/health") == before
        finally:
            await scheduler.close()
            await kept.stop()
            await gone.stop()

    asyncio.run(body())


def test_disabled_and_drained_members_are_checked_too() -> None:
    async def body() -> None:
        drained = await TcpBackend("127.0.0.6").start()
        disabled = await TcpBackend("127.0.0.7").start()
        results = Results()
        scheduler = CheckScheduler(results)
        scheduler.update(
            [
                pool(
                    "a.example.com.",
                    Check(CheckType.TCP, port=drained.port, interval_s=0.05),
                    Member("127.0.0.6", weight=0),
                ),
                pool(
                    "b.example.com.",
                    Check(CheckType.TCP, port=disabled.port, interval_s=0.05),
                    Member("127.0.0.7", enabled=False),
                ),
            ]
        )
        try:
            assert await scheduler.wait_first_results(1.0) is True
        finally:
            await scheduler.close()
            await drained.stop()
            await disabled.stop()
        assert drained.accepted >= 1 and disabled.accepted >= 1

    asyncio.run(body())


def test_checker_reports_down_after_fall_and_up_after_rise_with_real_backends() -> None:
    async def body() -> None:
        a = await HttpBackend("127.0.0.8").start()
        b = await HttpBackend("127.0.0.9", port=a.port).start()
        check = replace(HTTP, port=a.port)
        reports: list[ProbeReport] = []

        async def sink(report: ProbeReport) -> None:
            reports.append(report)

        def latest(address: str) -> ProbeReport | None:
            return next((r for r in reversed(reports) if r.address == address), None)

        checker = HealthChecker(sink)
        checker.update([pool("www.example.com.", check, Member("127.0.0.8"), Member("127.0.0.9"))])
        try:
            assert await checker.wait_first_reports(check.timeout_s) is True
            assert {r.address: r.down for r in reports} == {"127.0.0.8": False, "127.0.0.9": False}
            loop = asyncio.get_running_loop()
            stopped = loop.time()
            await b.stop()
            await until(lambda: (r := latest("127.0.0.9")) is not None and r.down)
            # issue 5: interval x fall (+ the time a check takes) from death to report
            assert loop.time() - stopped < check.interval_s * check.fall + 1.0
            assert (r := latest("127.0.0.9")) is not None and r.reason == "connect refused"
            await b.start()
            await until(lambda: (r := latest("127.0.0.9")) is not None and not r.down)
            assert all(not r.down for r in reports if r.address == "127.0.0.8")
        finally:
            await checker.close()
            await a.stop()
            await b.stop()

    asyncio.run(body())
