"""Failed authentication per client address: after LIMIT bad tokens within a window, the
address gets 429 until that window ends.

Pure: the caller passes the time (seconds, any clock that does not go back). A token has
256 bits, so this is not what keeps tokens secret; it keeps a guesser from costing a
database lookup per try and says in the log, once per address and window, that one is
trying. The table is bounded: the address seen longest ago goes first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

LIMIT = 10  # bad tokens from one address within WINDOW_S
WINDOW_S = 60.0
MAX_ADDRESSES = 10000


@dataclass(slots=True)
class Window:
    started: float
    failures: int = 0


class AuthFailures:
    def __init__(
        self, limit: int = LIMIT, window_s: float = WINDOW_S, max_addresses: int = MAX_ADDRESSES
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max = max_addresses
        self._windows: OrderedDict[str, Window] = OrderedDict()

    def retry_after_s(self, address: str, now: float) -> int | None:
        """Whole seconds until address may try again, or None when it may now."""
        window = self._current(address, now)
        if window is None or window.failures < self.limit:
            return None
        return max(1, math.ceil(window.started + self.window_s - now))

    def failed(self, address: str, now: float) -> bool:
        """Count one bad token; True when this one reached the limit (log it: once)."""
        window = self._current(address, now)
        if window is None:
            window = self._windows[address] = Window(now)
            while len(self._windows) > self._max:
                self._windows.popitem(last=False)
        self._windows.move_to_end(address)
        window.failures += 1
        return window.failures == self.limit

    def _current(self, address: str, now: float) -> Window | None:
        window = self._windows.get(address)
        if window is not None and now - window.started >= self.window_s:
            del self._windows[address]
            return None
        return window
