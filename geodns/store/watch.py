"""Tell the caller when the store's generation moves: PostgreSQL LISTEN/NOTIFY, SQLite polling.

Control plane: a background loop. It never raises: failures are logged at WARNING,
backed off and retried until stop is set. On SQLite each poll first asks SQLite whether
anything at all was committed since the last one (PRAGMA data_version, on a connection
of its own, a few microseconds): the generation is read through the store only then, so
an idle database costs the event loop, which also answers DNS, next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import asyncpg  # no stubs: see the mypy overrides in pyproject.toml

from geodns.store.engine import database_url, safe_url
from geodns.store.repository import Store
from geodns.store.tables import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

SAFETY_POLL_S = 5.0  # PostgreSQL: a notification lost with its connection is caught by this
MAX_BACKOFF_S = 30.0


async def watch_changes(
    store: Store,
    url: str,
    on_change: Callable[[int], Awaitable[None]],
    *,
    poll_interval_s: float = 0.25,
    stop: asyncio.Event,
    since: int | None = None,
    safety_poll_s: float = SAFETY_POLL_S,
) -> None:
    """Call on_change(generation) each time the generation differs from the last one seen.

    since: the generation the caller already has (None: read it first, no call for it).
    Bursts coalesce: on_change sees the newest generation, not every step. When on_change
    raises, it is logged and called again (backing off) until it succeeds. Returns when
    stop is set.
    """
    postgres = database_url(url).get_backend_name() == "postgresql"
    poke = asyncio.Event()
    listener = asyncio.create_task(_listen(url, poke, stop)) if postgres else None
    interval = safety_poll_s if postgres else poll_interval_s
    commits = None if postgres else SqliteCommits.open(url)
    last = since
    failures = 0
    try:
        while not stop.is_set():
            wait_s = interval
            try:
                # after a failure, read whatever SQLite says: the change is still unhandled
                if failures or last is None or _moved(commits):
                    current = await store.generation()
                    if last is None:
                        last = current
                    elif current != last:
                        await on_change(current)
                        last = current  # only once handled: a failed on_change is retried
                failures = 0
            except Exception as exc:  # background loop: log, back off, go on
                failures += 1
                wait_s = min(poll_interval_s * 2**failures, MAX_BACKOFF_S)
                log.warning("store watch failed error=%s retry_s=%.1f", _describe(exc), wait_s)
            await _first(stop, poke, timeout_s=wait_s)
            poke.clear()
    finally:
        if commits is not None:
            commits.close()
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


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


async def _listen(url: str, poke: asyncio.Event, stop: asyncio.Event) -> None:
    """Hold a LISTEN connection open, reconnecting with backoff; poke on every NOTIFY."""
    dsn = database_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    backoff_s = 0.5

    def notified(*_args: Any) -> None:
        poke.set()

    while not stop.is_set():
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(
                dsn, timeout=10, server_settings={"application_name": "geodns-watch"}
            )
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, notified)
            log.info("listening for changes channel=%s url=%s", NOTIFY_CHANNEL, safe_url(url))
            poke.set()  # anything committed while we were not listening
            backoff_s = 0.5
            await _first(stop, lost)
            if lost.is_set() and not stop.is_set():
                log.warning("change listener lost its connection url=%s", safe_url(url))
        except Exception as exc:  # background loop: log, back off, go on
            log.warning(
                "change listener failed url=%s error=%s retry_s=%.1f",
                safe_url(url),
                _describe(exc),
                backoff_s,
            )
            await _first(stop, timeout_s=backoff_s)
            backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
        finally:
            if connection is not None and not connection.is_closed():
                try:
                    await asyncio.wait_for(connection.close(), timeout=2)
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
