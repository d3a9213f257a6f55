"""HealthRecorder on the real store: quorum, expiry, damping and the checker's own reports.

Reports are stored with Store.save_report and decided over every probe's latest report;
the decided state and its transitions are read back from the database (SQLite, and
PostgreSQL when GEODNS_TEST_POSTGRES_URL is set, through the with_store fixture).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from databases import WithStore
from integration.health_backends import HttpBackend
from polling import until_async

from geodns.health.checker import HealthChecker, HealthRecorder
from geodns.health.damping import FlapDamper
from geodns.health.decider import HealthDecider
from geodns.pools.model import AddressHealth, Check, CheckType, Member, Pool
from geodns.store.core import lock_writers
from geodns.store.health_rows import Report, upsert_report
from geodns.store.repository import Store, open_engine, transaction

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
ADDRESS = "192.0.2.11"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_three_probes_one_liar_stays_up_two_down_go_down_expiry_restores(
    with_store: WithStore,
) -> None:
    async def body(store: Store) -> None:
        transitions: list[tuple[str, bool]] = []
        recorder = HealthRecorder(
            store, on_transition=lambda change: transitions.append((change.address, change.down))
        )
        await recorder.record("node-a", ADDRESS, False, "http ok", 30, at(0))
        await recorder.record("probe-eu1", ADDRESS, False, "http ok", 60, at(0))
        liar = await recorder.record("probe-us1", ADDRESS, True, "timeout after 2.0s", 60, at(1))
        assert (liar.down, liar.transition) == (False, False)
        assert (await store.load_state()).health[ADDRESS] == AddressHealth(False, "")

        second = await recorder.record("node-a", ADDRESS, True, "http 503", 30, at(2))
        assert (second.down, second.transition) == (True, True)
        assert transitions == [(ADDRESS, True)]
        [failed] = await store.list_address_health(down=True)
        assert failed.reason == "http 503 (node-a); timeout after 2.0s (probe-us1)"
        assert failed.probes == {"node-a": True, "probe-eu1": False, "probe-us1": True}
        [transition] = await store.list_transitions(ADDRESS)
        assert (transition.down, transition.votes) == (True, failed.probes)

        # node-a's report (ttl 30 s) expires: one down of two live, the address comes back
        assert await recorder.redecide_all(at(31)) == []  # at 31 s node-a is still live
        assert await recorder.redecide_all(at(32)) == [ADDRESS]
        [state] = await store.list_address_health()
        assert (state.down, state.probes) == (False, {"probe-eu1": False, "probe-us1": True})
        assert [t.down for t in await store.list_transitions(ADDRESS)] == [False, True]
        assert transitions == [(ADDRESS, True), (ADDRESS, False)]
        assert await recorder.redecide_all(at(33)) == []  # nothing changed: nothing written

    with_store(body)


def test_all_reports_expired_means_up(with_store: WithStore) -> None:
    async def body(store: Store) -> None:
        recorder = HealthRecorder(store)
        assert (await recorder.record("node-a", ADDRESS, True, "connect refused", 10, T0)).down
        assert await recorder.redecide_all(at(10)) == [ADDRESS]
        assert (await store.load_state()).health[ADDRESS].down is False

    with_store(body)


def test_a_flapping_address_is_held_down_until_stable(with_store: WithStore) -> None:
    async def body(store: Store) -> None:
        damper = FlapDamper(max_changes=2, window_s=100, hold_s=30)
        recorder = HealthRecorder(store, HealthDecider(damper=damper))
        for second, down in [(0, True), (5, False), (10, True), (15, False)]:
            change = await recorder.record("node-a", ADDRESS, down, "x", 600, at(second))
        assert change.down is True  # the votes say up
        assert change.reason == (
            "flapping: more than 2 changes in 100s, held down until stable for 30s"
        )
        assert (await store.load_state()).health[ADDRESS].down is True
        assert await recorder.redecide_all(at(44)) == []
        assert await recorder.redecide_all(at(45)) == [ADDRESS]  # stable 30 s: released
        assert (await store.load_state()).health[ADDRESS].down is False

    with_store(body)


def test_two_nodes_on_one_database_damp_an_address_alike_issue5_s3(
    database_url: str, with_store: WithStore
) -> None:
    """The flap history lives with the address: node B, which saw none of the flaps,
    neither releases node A's hold early nor holds it longer."""

    async def body(store_a: Store) -> None:
        store_b = await Store.open(database_url)  # a second node: its own engine, own decider
        try:

            def policy() -> HealthDecider:
                return HealthDecider(damper=FlapDamper(max_changes=2, window_s=100, hold_s=30))

            node_a, node_b = HealthRecorder(store_a, policy()), HealthRecorder(store_b, policy())
            for second, down in [(0, True), (5, False), (10, True), (15, False)]:
                await node_a.record("node-a", ADDRESS, down, "x", 600, at(second))
            assert await node_b.redecide_all(at(16)) == []  # B reads A's hold and keeps it
            assert await node_b.redecide_all(at(44)) == []
            [state] = await store_b.list_address_health()
            assert (state.down, state.history.held_until) == (True, at(45).timestamp())
            assert await node_b.redecide_all(at(45)) == [ADDRESS]  # 30 s stable: released
            assert await node_a.redecide_all(at(46)) == []  # and A agrees
            assert (await store_a.load_state()).health[ADDRESS].down is False
            # down, up, down (held from here), up at the release: no flip-flop between nodes
            downs = [t.down for t in await store_a.list_transitions(ADDRESS)]
            assert downs == [False, True, False, True]  # newest first
        finally:
            await store_b.close()

    with_store(body)


def test_a_redecision_waits_for_a_report_being_stored_and_decides_with_it(
    database_url: str, with_store: WithStore
) -> None:
    """Store.redecide_health reads under the writers' lock: a report committed while it
    waits is in its vote, never overwritten by an older view of the reports."""

    async def body(store: Store) -> None:
        reporter = open_engine(database_url)  # another node's connection
        recorder = HealthRecorder(store)
        try:
            async with transaction(reporter, write=True) as conn:
                await lock_writers(conn)
                redecision = asyncio.create_task(recorder.redecide_all(at(1)))
                await asyncio.sleep(0.3)  # the redecision is waiting for the lock now
                assert not redecision.done()
                await upsert_report(conn, Report("probe-a", ADDRESS, True, "refused", at(0), 60))
            assert await redecision == [ADDRESS]  # it saw the committed report
            [state] = await store.list_address_health()
            assert (state.down, state.probes) == (True, {"probe-a": True})
        finally:
            await reporter.dispose()

    with_store(body)


def test_the_checker_through_the_recorder_takes_a_dead_backend_out_of_the_store(
    with_store: WithStore,
) -> None:
    async def body(store: Store) -> None:
        backend = await HttpBackend("127.0.0.10").start()
        check = Check(
            CheckType.HTTP,
            port=backend.port,
            path="/health",
            interval_s=0.05,
            timeout_s=0.5,
            rise=2,
            fall=2,
        )
        recorder = HealthRecorder(store)
        checker = HealthChecker(recorder.sink("node-a"))
        checker.update([Pool("www.example.com.", (Member("127.0.0.10"),), check=check)])
        before = await store.generation()

        async def health() -> AddressHealth | None:
            return (await store.load_state()).health.get("127.0.0.10")

        try:
            assert await checker.wait_first_reports(check.timeout_s + 1.0) is True
            assert await health() == AddressHealth(False, "")
            [report] = await store.list_reports("127.0.0.10")
            assert (report.probe, report.down, report.reason) == ("node-a", False, "http ok")
            assert report.ttl_s == 3 * check.interval_s + check.timeout_s
            backend.status = 503
            seen: list[AddressHealth | None] = []

            async def poll() -> bool:
                seen.append(await health())
                return seen[-1] == AddressHealth(True, "http 503 (node-a)")

            await until_async(poll)
            assert await store.generation() > before
            backend.status = 200
            await until_async(lambda: _is(health(), AddressHealth(False, "")))
            assert [t.down for t in await store.list_transitions("127.0.0.10")] == [False, True]
        finally:
            await checker.close()
            await backend.stop()

    with_store(body)


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


def test_the_store_says_when_a_redecision_is_next_due(with_store: WithStore) -> None:
    async def body(store: Store) -> None:
        recorder = HealthRecorder(
            store, HealthDecider(damper=FlapDamper(max_changes=1, window_s=100, hold_s=30))
        )
        first = await recorder.record("probe-a", ADDRESS, True, "refused", 20, at(0))
        assert first.due == at(20)  # the report expires
        await recorder.record("probe-b", "192.0.2.12", False, "ok", 8, at(1))
        await recorder.redecide_all(at(2))
        assert recorder.next_due == at(9)  # the earliest expiry of any address
        flapped = await recorder.record("probe-b", "192.0.2.12", True, "refused", 60, at(3))
        flapped = await recorder.record("probe-b", "192.0.2.12", False, "ok", 60, at(4))
        assert (flapped.down, flapped.due) == (True, at(34))  # the hold ends first
        # probe-a's report expired: ADDRESS's second change in the window, held to 55
        await recorder.redecide_all(at(25))
        assert recorder.next_due == at(34)
        await recorder.redecide_all(at(35))  # 192.0.2.12 released; next: ADDRESS's hold
        assert recorder.next_due == at(55)
        await recorder.redecide_all(at(56))
        assert recorder.next_due == at(64)  # probe-b's last report expires

    with_store(body)


def test_run_redecides_at_a_reports_expiry_not_at_its_ceiling(with_store: WithStore) -> None:
    """The loop sleeps until the store's next due time, and a report stored meanwhile
    brings it forward (due_by): a 0.3 s report expires on time under a 60 s ceiling."""

    async def body(store: Store) -> None:
        recorder = HealthRecorder(store)
        runner = asyncio.create_task(recorder.run(ceiling_s=60))
        try:
            await asyncio.sleep(0.2)  # the first redecision found nothing due: 60 s sleep
            assert recorder.next_due is None
            sent = time.monotonic()
            down = await recorder.record("probe-a", ADDRESS, True, "refused", 0.3)
            assert down.down is True

            async def up_again() -> bool:
                return (await store.load_state()).health[ADDRESS].down is False

            await until_async(up_again, timeout_s=5)
            assert time.monotonic() - sent < 3  # at the expiry, not at the 60 s ceiling
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    with_store(body)
