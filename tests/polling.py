"""Polling with a deadline, the one way tests wait (STYLE.md: no sleep, poll)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], bool], timeout_s: float = 5.0, poll_s: float = 0.005
) -> None:
    """Poll condition in the event loop until it holds; fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(poll_s)


async def until_async(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0, poll_s: float = 0.02
) -> float:
    """Poll an awaitable condition (a store read, an API call) until it holds; the seconds
    it took, AssertionError at the deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await condition():
        if loop.time() - started > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(poll_s)
    return loop.time() - started


def within(
    seconds: float,
    check: Callable[[], bool],
    what: str = "",
    started: float | None = None,
    poll_s: float = 0.01,
) -> float:
    """Poll check() from a blocking test until it holds; the seconds it took since started
    (default: now), AssertionError naming what past the deadline. A check that starts a
    process wants a longer poll_s than one that reads a socket.

    Deadlines are generous (the machine is shared): a test asserts the bound it promises
    on the returned measurement, so a slow run fails with the number.
    """
    started = time.monotonic() if started is None else started
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s" + (f": {what}" if what else ""))
        time.sleep(poll_s)
    return time.monotonic() - started
