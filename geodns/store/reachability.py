"""Whether the database answers now: the question /readyz asks, with a short deadline.

Control plane: does I/O through the Store. One question is in flight at a time: a probe
that outlives its deadline keeps running (bounded by the store's own timeouts) and the
next check waits on it rather than opening another connection, so a hung database and
an orchestrator polling every second cannot pile up connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from geodns.errors import StoreTimedOut, StoreUnavailable


@dataclass(frozen=True, slots=True)
class Reachability:
    reachable: bool
    reason: str | None  # why not, for an operator: "database unreachable: ..." / "... timed out"


class ReachabilityProbe:
    """Asks read() (a store read, e.g. Store.generation) and says whether it answered."""

    def __init__(self, read: Callable[[], Awaitable[object]], timeout_s: float) -> None:
        self._read = read
        self.timeout_s = timeout_s
        self._asking: asyncio.Task[object] | None = None

    async def check(self) -> Reachability:
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._read())
            # an answer after the deadline is dropped: take it, so no one warns it was lost
            self._asking.add_done_callback(lambda task: task.cancelled() or task.exception())
        asking = self._asking
        try:
            await asyncio.wait_for(asyncio.shield(asking), self.timeout_s)
        except TimeoutError:
            return Reachability(False, f"database timed out: no answer within {self.timeout_s:g} s")
        except StoreTimedOut as exc:
            return Reachability(False, f"database timed out: {exc}")
        except StoreUnavailable as exc:
            return Reachability(False, f"database unreachable: {exc}")
        return Reachability(True, None)

    async def close(self) -> None:
        if self._asking is not None and not self._asking.done():
            self._asking.cancel()
            with contextlib.suppress(BaseException):
                await self._asking
