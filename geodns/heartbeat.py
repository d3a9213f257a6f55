"""Heartbeat: this node tells the database it is alive, what it runs and how current it is.

Control plane: does I/O through the Store. Every few seconds one upsert of the node's own
row (geodns.store.nodes); a node whose snapshot reflects less than the database held at
its last beat notes since when, so the console can tell a node that is behind from one
that is merely between two polls. A failed beat is logged once and retried next time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from geodns.errors import StoreUnavailable
from geodns.snapshot import SnapshotHolder
from geodns.store.repository import Node, NodeBeat, Store

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 5.0
SILENT_AFTER_S = 3 * HEARTBEAT_EVERY_S  # two lost beats are not yet silence
BEHIND_AFTER_S = 5.0  # longer than a poll interval and a rebuild: really behind


class Heartbeat:
    def __init__(
        self,
        store: Store,
        holder: SnapshotHolder,
        name: str,
        version: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._holder = holder
        self._clock = clock
        self.name = name
        self.version = version
        self.started_at = clock()
        self.behind_since: datetime | None = None
        self._failing = False

    async def beat(self) -> None:
        """One heartbeat; StoreUnavailable when the database cannot take it."""
        snapshot = self._holder.current
        now = self._clock()
        beat = NodeBeat(
            self.name,
            self.version,
            self.started_at,
            snapshot.generation,
            snapshot.store_generation,
            self.behind_since,
        )
        head = await self._store.save_heartbeat(beat)
        if snapshot.store_generation >= head:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = now

    async def run(self, every_s: float = HEARTBEAT_EVERY_S) -> None:
        """Beat every every_s until cancelled."""
        while True:
            try:
                await self.beat()
                if self._failing:
                    log.info("heartbeat stored again node=%s", self.name)
                self._failing = False
            except StoreUnavailable as exc:
                if not self._failing:
                    log.warning("heartbeat not stored node=%s error=%s", self.name, exc)
                self._failing = True
            await asyncio.sleep(every_s)


def node_flags(node: Node, now: datetime) -> list[str]:
    """What the console flags about a node: "silent", "behind", or nothing."""
    flags = []
    if now - node.last_seen > timedelta(seconds=SILENT_AFTER_S):
        flags.append("silent")
    since = node.beat.behind_since
    if since is not None and now - since >= timedelta(seconds=BEHIND_AFTER_S):
        flags.append("behind")
    return flags
