"""What the console flags about a node from its last heartbeat: silent, behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geodns.heartbeat import BEHIND_AFTER_S, SILENT_AFTER_S, node_flags
from geodns.store.repository import Node, NodeBeat

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def node(seen_s_ago: float, behind_s: float | None = None) -> Node:
    behind = None if behind_s is None else NOW - timedelta(seconds=behind_s)
    beat = NodeBeat("ns1", "0.1.0", NOW - timedelta(hours=1), 7, 41, behind)
    return Node(beat, NOW - timedelta(seconds=seen_s_ago), 42)


@pytest.mark.parametrize(
    ("seen", "behind", "flags"),
    [
        (1.0, None, []),
        (SILENT_AFTER_S - 0.1, None, []),  # two lost beats are not yet silence
        (SILENT_AFTER_S + 0.1, None, ["silent"]),
        (1.0, BEHIND_AFTER_S - 0.1, []),  # between two polls: not flagged
        (1.0, BEHIND_AFTER_S + 0.1, ["behind"]),
        (SILENT_AFTER_S + 1, BEHIND_AFTER_S + 1, ["silent", "behind"]),
    ],
    ids=["current", "two-beats-lost", "silent", "catching-up", "behind", "both"],
)
def test_nodes_are_flagged_silent_or_behind(seen: float, behind: float | None, flags: list[str]):
    assert node_flags(node(seen, behind), NOW) == flags
