"""The store's change watch on real SQLite and PostgreSQL: a change through another store
is seen within a second, after a lost LISTEN connection and after an outage too."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from databases import BACKENDS, POSTGRES_URL
from dbproxy import DatabaseProxy

from geodns.pools.model import Member, Pool
from geodns.store.repository import Store
from geodns.store.watch import SqliteCommits, watch_changes


def a_pool() -> Pool:
    return Pool(name="www.example.com.", members=(Member("192.0.2.11"),))


class Watch:
    """watch_changes on one store while a second store writes: two nodes of one database.
    Each change it reports lands in seen as (generation, when)."""

    def __init__(self, watched: Store, watched_url: str, writer: Store) -> None:
        self.watched, self.watched_url, self.writer = watched, watched_url, writer
        self.seen: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, watched_url: str, writer_url: str) -> Watch:
        return cls(await Store.open(watched_url), watched_url, await Store.open(writer_url))

    def start(self, since: int) -> None:
        async def on_change(generation: int) -> None:
            await self.seen.put((generation, time.monotonic()))

        watching = watch_changes(
            self.watched, self.watched_url, on_change, stop=self._stop, since=since
        )
        self._task = asyncio.create_task(watching)

    async def next_change(self) -> tuple[int, float]:
        return await asyncio.wait_for(self.seen.get(), timeout=5)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=5)
        await self.writer.close()
        await self.watched.close()


async def _watch_until(
    url: str,
    change: Callable[[Store], Awaitable[Any]],
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> float:
    """Seconds from a change committed through a second Store to on_change seeing it."""
    watch = await Watch.open(url, url)
    try:
        since = await watch.watched.generation()
        watch.start(since)
        if prepare is not None:
            await prepare()
        started = time.monotonic()
        await change(watch.writer)
        generation, at = await watch.next_change()
        assert generation == since + 1
        return at - started
    finally:
        await watch.close()


async def _create(store: Store) -> None:
    await store.create_pool(a_pool())


def test_watch_sees_a_change_from_another_store_within_1s(database_url: str) -> None:
    assert asyncio.run(_watch_until(database_url, _create)) < 1.0


# LISTEN is PostgreSQL's: this test exists where PostgreSQL is configured (CI sets
# GEODNS_TEST_POSTGRES_URL), rather than showing up as skipped everywhere else.
if POSTGRES_URL:

    @pytest.mark.parametrize("backend", [p for p in BACKENDS if p.id == "postgresql"])
    def test_watch_listens_again_after_its_connection_is_killed(database_url: str) -> None:
        admin_dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        listeners = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'geodns-watch' AND datname = current_database()"
        )

        async def until_listening(connection: Any) -> None:
            deadline = time.monotonic() + 3
            while await connection.fetchval(listeners) != 1:
                assert time.monotonic() < deadline, "the watcher never listened"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # connected is not yet LISTENing: give it a moment

        async def kill_listener() -> None:
            connection = await asyncpg.connect(admin_dsn)
            try:
                await until_listening(connection)
                killed = await connection.fetchval(
                    listeners.replace("count(*)", "count(pg_terminate_backend(pid))")
                )
                assert killed == 1
                await asyncio.sleep(0.1)
                await until_listening(connection)
            finally:
                await connection.close()

        # the safety poll is 5 s away: seeing the change within 1 s means LISTEN is back
        assert asyncio.run(_watch_until(database_url, _create, kill_listener)) < 1.0


def test_watch_retries_a_failed_on_change(database_url: str) -> None:
    async def scenario() -> list[int]:
        store = await Store.open(database_url)
        calls: list[int] = []
        handled = asyncio.Event()
        stop = asyncio.Event()

        async def on_change(generation: int) -> None:
            calls.append(generation)
            if len(calls) == 1:
                raise RuntimeError("snapshot build failed")
            handled.set()

        task = asyncio.create_task(
            watch_changes(store, database_url, on_change, stop=stop, since=0, poll_interval_s=0.05)
        )
        try:
            await store.create_pool(a_pool())
            await asyncio.wait_for(handled.wait(), timeout=5)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            await store.close()
        return calls

    assert asyncio.run(scenario()) == [1, 1]


class CountingStore(Store):
    """The real store, counting how often the watch reads the generation."""

    reads = 0

    async def generation(self) -> int:
        self.reads += 1
        return await super().generation()


@pytest.mark.parametrize("backend", [p for p in BACKENDS if p.id == "sqlite"])
def test_an_idle_sqlite_watch_reads_the_generation_only_when_something_was_committed(
    database_url: str,
) -> None:
    """PRAGMA data_version answers "anything committed?" without the store: an idle
    database costs the DNS event loop no query, a commit is still seen at once."""

    async def scenario() -> tuple[int, int, list[int]]:
        store = await CountingStore.open(database_url)
        writer = await Store.open(database_url)
        seen: list[int] = []
        changed = asyncio.Event()
        stop = asyncio.Event()

        async def on_change(generation: int) -> None:
            seen.append(generation)
            changed.set()

        since = await writer.generation()  # through the writer: store.reads counts the watch's
        task = asyncio.create_task(
            watch_changes(
                store, database_url, on_change, stop=stop, since=since, poll_interval_s=0.02
            )
        )
        try:
            await asyncio.sleep(0.5)  # some 25 polls of an idle database
            idle_reads = store.reads
            await writer.create_pool(a_pool())
            await asyncio.wait_for(changed.wait(), timeout=5)
            return idle_reads, store.reads, seen
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            await writer.close()
            await store.close()

    idle_reads, reads, seen = asyncio.run(scenario())
    assert idle_reads <= 2  # the first read, and one for the probe's own first answer
    assert reads > idle_reads and seen == [1]


def test_sqlite_commits_tells_a_commit_from_a_read(tmp_path: Path) -> None:
    path = tmp_path / "watched.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x)")
    commits = SqliteCommits.open(f"sqlite+aiosqlite:///{path}")
    assert commits is not None
    try:
        assert commits.moved() is True  # the first answer: it cannot know
        assert commits.moved() is False
        other.execute("SELECT * FROM t").fetchall()
        other.execute("BEGIN IMMEDIATE")
        other.execute("COMMIT")
        assert commits.moved() is False  # reads and empty transactions commit nothing
        other.execute("INSERT INTO t VALUES (1)")
        assert commits.moved() is True
        assert commits.moved() is False
    finally:
        commits.close()
        other.close()
    assert SqliteCommits.open("sqlite+aiosqlite:///:memory:") is None
    assert SqliteCommits.open(f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}") is None


def test_a_change_committed_before_the_watch_starts_is_seen(database_url: str) -> None:
    """The caller's snapshot is at since; a commit between that read and the watch's
    first one is a change to publish, not the watch's starting point."""

    async def scenario() -> tuple[int, int]:
        watch = await Watch.open(database_url, database_url)
        try:
            since = await watch.watched.generation()
            await watch.writer.create_pool(a_pool())
            watch.start(since)
            return since, (await watch.next_change())[0]
        finally:
            await watch.close()

    since, seen = asyncio.run(scenario())
    assert seen == since + 1


if POSTGRES_URL:

    @pytest.mark.parametrize("backend", [p for p in BACKENDS if p.id == "postgresql"])
    def test_a_watch_that_starts_in_an_outage_sees_what_was_written_before_the_return(
        database_url: str, database_proxy: DatabaseProxy
    ) -> None:
        """Issue 12 §5, and the CI failure behind it: a node whose watch first read the
        generation after an outage took the change made meanwhile as its baseline and
        stayed stale. Here the watched store reaches the database through a proxy that is
        down when the watch starts; the change is written directly, then the proxy returns."""

        async def scenario() -> tuple[int, int, float]:
            watch = await Watch.open(database_proxy.url(database_url), database_url)
            try:
                since = await watch.watched.generation()
                database_proxy.down()
                watch.start(since)
                await asyncio.sleep(0.5)  # the watch's first reads fail
                await watch.writer.create_pool(a_pool())
                database_proxy.up()
                returned = time.monotonic()
                generation, at = await watch.next_change()
                return since, generation, at - returned
            finally:
                await watch.close()

        since, generation, after_s = asyncio.run(scenario())
        # RETRY_CEILING_S is 0.5: the return is noticed within that, plus one read
        assert generation == since + 1, f"seen {generation} after {after_s:.2f} s"
