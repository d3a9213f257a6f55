"""HealthChecker with an injected probe: rise/fall per target -> one report per address.

The probe answers from a table the test changes; the sink records what would be stored.
The store side (HealthRecorder) runs on a real database in tests/integration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from polling import until

from geodns.health.checker import HealthChecker, ProbeReport, report_ttl_s
from geodns.health.scheduler import Target
from geodns.health.state import Result, Status
from geodns.pools.model import Check, CheckType, Member, Policy, Pool

TCP = Check(CheckType.TCP, port=80, interval_s=0.03, timeout_s=1.0, rise=2, fall=2)  # ttl 1.09 s
HTTP = Check(
    CheckType.HTTP, port=80, path="/health", interval_s=0.03, timeout_s=0.2, rise=1, fall=1
)
UP = Result(True, 0.001, "connect ok")
REFUSED = Result(False, 0.001, "connect refused")


class Backends:
    """What each (address, check type) answers right now, and what reached the sink."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, CheckType], Result] = {}
        self.reports: list[ProbeReport] = []
        self.fail_sink = 0

    async def probe(self, address: str, check: Check) -> Result:
        return self.answers.get((address, check.type), UP)

    async def sink(self, report: ProbeReport) -> None:
        if self.fail_sink:
            self.fail_sink -= 1
            raise OSError("database gone")
        self.reports.append(report)

    def latest(self, address: str) -> ProbeReport | None:
        return next((r for r in reversed(self.reports) if r.address == address), None)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def www(*members: Member, check: Check = TCP, policy: Policy = Policy.WEIGHTED) -> Pool:
    return Pool("www.example.com.", members, check=check, policy=policy)


def test_first_reports_arrive_before_wait_first_reports_returns() -> None:
    async def body() -> None:
        backends = Backends()
        backends.answers[("192.0.2.2", CheckType.TCP)] = REFUSED
        checker = HealthChecker(backends.sink, probe=backends.probe)
        checker.update([www(Member("192.0.2.1"), Member("192.0.2.2"))])
        assert await checker.wait_first_reports(1.0) is True
        assert backends.latest("192.0.2.1") == ProbeReport(
            "192.0.2.1", False, "connect ok", report_ttl_s(TCP)
        )
        assert backends.latest("192.0.2.2") == ProbeReport(
            "192.0.2.2", True, "connect refused", report_ttl_s(TCP)
        )
        await checker.close()

    run(body)


def test_an_address_goes_down_after_fall_and_up_after_rise_reported_once_each() -> None:
    async def body() -> None:
        backends = Backends()
        checker = HealthChecker(backends.sink, probe=backends.probe)
        checker.update([www(Member("192.0.2.1"))])
        await checker.wait_first_reports(1.0)
        target = Target("192.0.2.1", TCP)
        backends.answers[("192.0.2.1", CheckType.TCP)] = REFUSED
        await until(lambda: (r := backends.latest("192.0.2.1")) is not None and r.down)
        state = checker.status(target)
        assert state is not None and state.status is Status.DOWN
        backends.answers.clear()
        await until(lambda: (r := backends.latest("192.0.2.1")) is not None and not r.down)
        await checker.close()
        # refreshes come only every half ttl (> 3 intervals): just up, down, up here
        assert [r.down for r in backends.reports] == [False, True, False]

    run(body)


def test_an_address_with_two_checks_is_down_when_either_is_down() -> None:
    async def body() -> None:
        backends = Backends()
        checker = HealthChecker(backends.sink, probe=backends.probe)
        api = Pool("api.example.com.", (Member("192.0.2.1"),), check=HTTP)
        checker.update([www(Member("192.0.2.1")), api])
        await checker.wait_first_reports(1.0)
        assert backends.latest("192.0.2.1") is not None
        backends.answers[("192.0.2.1", CheckType.HTTP)] = Result(False, 0.01, "http 503")
        await until(lambda: (r := backends.latest("192.0.2.1")) is not None and r.down)
        report = backends.latest("192.0.2.1")
        assert report is not None
        assert report.reason == "http://192.0.2.1:80/health: http 503"
        assert report.ttl_s == max(report_ttl_s(TCP), report_ttl_s(HTTP))
        await checker.close()

    run(body)


def test_reports_are_refreshed_every_half_ttl_while_nothing_changes() -> None:
    async def body() -> None:
        backends = Backends()
        quick = Check(CheckType.TCP, port=80, interval_s=0.02, timeout_s=0.01)  # ttl 0.07 s
        checker = HealthChecker(backends.sink, probe=backends.probe)
        checker.update([www(Member("192.0.2.1"), check=quick)])
        await until(lambda: len(backends.reports) >= 3)
        await checker.close()
        assert {(r.down, r.ttl_s) for r in backends.reports} == {(False, report_ttl_s(quick))}

    run(body)


def test_a_failing_sink_is_retried_with_the_newest_report() -> None:
    async def body() -> None:
        backends = Backends()
        backends.fail_sink = 2
        checker = HealthChecker(backends.sink, probe=backends.probe, retry_s=0.01)
        checker.update([www(Member("192.0.2.1"))])
        assert await checker.wait_first_reports(2.0) is True
        assert [r.address for r in backends.reports] == ["192.0.2.1"]
        await checker.close()

    run(body)


def test_removed_pools_lose_their_states() -> None:
    async def body() -> None:
        backends = Backends()
        checker = HealthChecker(backends.sink, probe=backends.probe)
        checker.update([www(Member("192.0.2.1"))])
        await checker.wait_first_reports(1.0)
        checker.update([])
        assert checker.status(Target("192.0.2.1", TCP)) is None
        assert checker.scheduler.targets == frozenset()
        await checker.close()

    run(body)


def test_adaptive_pools_publish_effective_weights_from_latency() -> None:
    async def body() -> None:
        backends = Backends()
        backends.answers[("192.0.2.2", CheckType.TCP)] = Result(True, 0.080, "connect ok")
        backends.answers[("192.0.2.1", CheckType.TCP)] = Result(True, 0.020, "connect ok")
        published: list[dict[str, int]] = []
        checker = HealthChecker(backends.sink, probe=backends.probe, on_weights=published.append)
        pool = www(Member("192.0.2.1", 100), Member("192.0.2.2", 100), policy=Policy.ADAPTIVE)
        checker.update([pool])
        await until(lambda: checker.effective_weights().get("192.0.2.2") == 25)
        await checker.close()
        assert checker.effective_weights()["192.0.2.1"] == 100
        seen = [w["192.0.2.2"] for w in published]
        assert seen == sorted(seen, reverse=True) and seen[-1] == 25
        assert all(a - b <= 25 for a, b in zip(seen, seen[1:], strict=False))

    run(body)
