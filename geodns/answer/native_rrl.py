"""Response rate limiting on the native data plane: rrl.py's rules, run by the C engine.

One bucket table per process, in C (_native_rrl.c): the C loop debits it for the replies
it renders, and the Python path on that plane debits the same table through this
limiter, so a key is counted once whoever answered. A response key is handed to C as its
id (a hash of the key's bytes, computed once when the entry is published), and this side
remembers which key an id stands for, to write the start/stop lines C queues.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from geodns.answer.acl import NetworkSet, packed_ranges
from geodns.answer.rrl import (
    ALL_KEY,
    CATEGORY_NAMES,
    ERROR_KEY,
    ResponseKey,
    RrlConfig,
    Verdict,
    describe_key,
    ip_address,
)
from geodns.answer.rrl import log as rrl_log

REMEMBERED_KEYS = 1 << 16  # key id -> key, for the log lines; then start over
VERDICTS = (Verdict.SEND, Verdict.DROP, Verdict.SLIP)  # _native_defences.h RRL_SEND...
MASK = (1 << 64) - 1
WHAT = ("started", "stopped")


def key_id(key: ResponseKey) -> int:
    """The id C knows the key by: 64 bits of the process's own (seeded) hash of its bytes."""
    return hash(key) & MASK


class NativeLimiter:
    """RateLimiter's interface (check, dropped, slipped, size) over the engine's table."""

    def __init__(self, config: RrlConfig, engine: Any) -> None:
        """engine: the _native.Engine whose table this is (NativeUdp's)."""
        self.config = config
        self._engine = engine
        self._keys: dict[int, ResponseKey] = {}
        engine.set_rrl(
            config.rates(),
            config.window_s,
            config.slip,
            config.ipv4_prefix,
            config.ipv6_prefix,
            packed_ranges(NetworkSet(config.exempt)),
            config.log_only,
            config.max_entries,
            self.remember(ALL_KEY),
            self.remember(ERROR_KEY),
        )

    def remember(self, key: ResponseKey) -> int:
        """key's id, kept so that a line about it can name it."""
        found = key_id(key)
        keys = self._keys
        if found not in keys:
            if len(keys) >= REMEMBERED_KEYS:
                keys.clear()
                keys[key_id(ALL_KEY)], keys[key_id(ERROR_KEY)] = ALL_KEY, ERROR_KEY
            keys[found] = key
        return found

    def check(self, source: str, key: ResponseKey, now: int) -> Verdict:
        verdict = VERDICTS[self._engine.rrl_check(source, self.remember(key), key[0], now)]
        self.log_events()
        return verdict

    def log_events(self) -> None:
        """The start/stop lines C queued (it applies rrl.py's once-a-minute and per-second
        bounds itself), written as RateLimiter writes them."""
        for what, family, block, prefix, key in self._engine.rrl_events():
            known = self._keys.get(key)
            shown = describe_key(known) if known is not None else f"#{key:016x}"
            rrl_log.warning(
                "rrl %s limiting client=%s key=%s%s",
                WHAT[what],
                f"{ip_address(family, int.from_bytes(block, 'big'))}/{prefix}",
                shown,
                " log_only=true" if self.config.log_only else "",
            )

    def _counts(self, which: str) -> Counter[str]:
        counters = self._engine.rrl_counters()
        return +Counter(dict(zip(CATEGORY_NAMES, counters[which], strict=True)))

    @property
    def dropped(self) -> Counter[str]:
        return self._counts("dropped")

    @property
    def slipped(self) -> Counter[str]:
        return self._counts("slipped")

    @property
    def size(self) -> int:
        size: int = self._engine.rrl_counters()["size"]
        return size
