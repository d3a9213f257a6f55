"""Tell the caller when the store's generation moves: PostgreSQL LISTEN/NOTIFY, SQLite polling.

Control plane: a background loop. It never raises: failures are logged at WARNING,
backed off and retried until stop is set. The backoff stops at RETRY_CEILING_S, so a
node notices the database's return within that: it then reads the generation at once
and LISTENs on a new connection (the old one may have died with the outage unnoticed).
On SQLite each poll first asks SQLite whether anything at all was committed since the
last one (PRAGMA data_version, on a connection of its own, a few microseconds): the
generation is read through the store only then, so an idle database costs the event
loop, which also answers DNS, next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import asyncpg  # no stubs: see the mypy overrides in pyproject.toml

from geodns.store.engine import database_url, safe_url
from geodns.store.repository import Store
from geodns.store.tables import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

SAFETY_POLL_S = 5.0  # PostgreSQL: a notification lost with its connection is caught by this
# Issue 12 §5: a backoff up to 30 s left a node serving stale data that long after the
# database returned. A retry is one refused connection (or one bounded by the connect
# timeout): cheap enough twice a second, and a change reaches every node within ~1 s.
RETRY_CEILING_S = 0.5
STILL_FAILING_LOG_S = 30.0  # while failing, a WARNING at most this often per loop


async def watch_changes(
    store: Store,
    url: str,
    on_change: Callable[[int], Awaitable[None]],
    *,
    poll_interval_s: float = 0.25,
    stop: asyncio.Event,
    since: int,
    safety_poll_s: float = SAFETY_POLL_S,
    connect_timeout_s: float = 3.0,
) -> None:
    """Call on_change(generation) each time the generation differs from the last one seen.

    since: the generation the caller already has (-1: none yet). It is required: a watch
    that took its first reading as the baseline would miss every change committed between
    the caller's read and that first reading, and, when the database was down at the
    start, everything written before it returned (a second node stayed stale that way).
    Bursts coalesce: on_change sees the newest generation, not every step. When on_change
    raises, it is logged and called again (backing off) until it succeeds. Returns when
    stop is set.
    """
    postgres = database_url(url).get_backend_name() == "postgresql"
    poke = asyncio.Event()
    relisten = asyncio.Event()  # the database is back: LISTEN again on a fresh connection
    listener = (
        asyncio.create_task(_listen(url, poke, relisten, stop, connect_timeout_s))
        if postgres
        else None
    )
    interval = safety_poll_s if postgres else poll_interval_s
    commits = None if postgres else SqliteCommits.open(url)
    last = since
    failing = _Failing("store watch")
    try:
        while not stop.is_set():
            wait_s = interval
            try:
                # after a failure, read whatever SQLite says: the change is still unhandled
                if failing.count or _moved(commits):
                    current = await store.generation()
                    if failing.count:
                        relisten.set()
                    if current != last:
                        await on_change(current)
                        last = current  # only once handled: a failed on_change is retried
                failing.over()
            except Exception as exc:  # background loop: log, back off, go on
                wait_s = failing.again(exc, poll_interval_s)
            await _first(stop, poke, timeout_s=wait_s)
            poke.clear()
    finally:
        if commits is not None:
            commits.close()
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


class _Failing:
    """A background loop's run of failures: its backoff, and WARNINGs that do not flood
    the log during a long outage (the first, then one every STILL_FAILING_LOG_S)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self._since = 0.0
        self._logged = 0.0

    def again(self, exc: BaseException, base_s: float) -> float:
        """One more failure: log it if due; the seconds to wait before the next try."""
        now = time.monotonic()
        self.count += 1
        wait_s: float = min(base_s * 2.0**self.count, RETRY_CEILING_S)
        if self.count == 1:
            self._since = self._logged = now
            log.warning("%s failed error=%s retry_s=%.2f", self.what, _describe(exc), wait_s)
        elif now - self._logged >= STILL_FAILING_LOG_S:
            self._logged = now
            log.warning(
                "%s still failing failures=%d for_s=%.0f error=%s",
                self.what,
                self.count,
                now - self._since,
                _describe(exc),
            )
        return wait_s

    def over(self) -> None:
        """A success: the next failure starts a new run."""
        if self.count:
            log.info(
                "%s recovered failures=%d after_s=%.1f",
                self.what,
                self.count,
                time.monotonic() - self._since,
            )
        self.count = 0


def _moved(commits: SqliteCommits | None) -> bool:
    """Whether the database may have changed (always, where it cannot be asked cheaply)."""
    return commits is None or commits.moved()


class SqliteCommits:
    """Whether anything was committed to a SQLite database since the last question.

    PRAGMA data_version changes when another connection commits (every store connection
    is another one), and reading it needs no disk I/O in WAL mode: the answer comes from
    the shared-memory index. moved() says True when it cannot tell (the first call, an
    error), so a doubt costs one store read, never a missed change.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._version: int | None = None

    @classmethod
    def open(cls, url: str) -> SqliteCommits | None:
        """None for an in-memory database (no other connection can see it)."""
        path = database_url(url).database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        try:
            # mode=rw: never create the file; this connection only ever reads a pragma
            connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0)
        except sqlite3.Error:
            return None  # no file yet: the store will make it; poll the slow way
        return cls(connection)

    def moved(self) -> bool:
        try:
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self._version = None
            return True
        moved = version != self._version
        self._version = version
        return moved

    def close(self) -> None:
        self._connection.close()


async def _listen(
    url: str,
    poke: asyncio.Event,
    relisten: asyncio.Event,
    stop: asyncio.Event,
    connect_timeout_s: float,
) -> None:
    """Hold a LISTEN connection open, reconnecting with backoff; poke on every NOTIFY.

    relisten (set when the store answers again after failing) replaces the connection:
    after an outage or a hang it may be dead without having noticed, and notifications
    sent meanwhile never arrive on it."""
    dsn = database_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    failing = _Failing(f"change listener url={safe_url(url)}")

    def notified(*_args: Any) -> None:
        poke.set()

    while not stop.is_set():
        connection: asyncpg.Connection | None = None
        try:
            relisten.clear()
            connection = await asyncpg.connect(
                dsn,
                timeout=connect_timeout_s,
                server_settings={"application_name": "geodns-watch"},
            )
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, notified)
            log.info("listening for changes channel=%s url=%s", NOTIFY_CHANNEL, safe_url(url))
            failing.over()
            poke.set()  # anything committed while we were not listening
            await _first(stop, lost, relisten)
            if lost.is_set() and not stop.is_set():
                log.warning("change listener lost its connection url=%s", safe_url(url))
        except Exception as exc:  # background loop: log, back off, go on
            await _first(stop, relisten, timeout_s=failing.again(exc, 0.25))
        finally:
            if connection is not None and not connection.is_closed():
                try:
                    await asyncio.wait_for(connection.close(), timeout=connect_timeout_s)
                except Exception:  # closing a broken connection: nothing left to do
                    connection.terminate()


async def _first(*events: asyncio.Event, timeout_s: float | None = None) -> None:
    """Wait until any of events is set, or timeout_s passes."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
