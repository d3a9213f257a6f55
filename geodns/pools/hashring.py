"""Consistent hash ring with virtual nodes, for the sticky policy.

Pure: no I/O. Built once per snapshot; a lookup is one hash and one bisect. Points come
from blake2b, never Python's hash() (salted per process), so every node and every
restart maps a client network to the same member.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

__all__ = ["HashRing", "RingNode", "stable_hash64", "POINTS_PER_MEMBER", "MAX_POINTS"]

# 256 points per member (ketama uses 160) keeps a member's share of the ring within
# about 1/sqrt(256) = 6% (relative) of its weight's share; MAX_POINTS caps a ring at
# 16 bytes a point in two arrays (256 KiB) however many members (64 at full density)
# or however large their weights (up to 65535): weights only set proportions.
POINTS_PER_MEMBER = 256
MAX_POINTS = 16384

Usable = Callable[[int], bool] | Collection[int] | None


def stable_hash64(data: bytes) -> int:
    """64-bit hash, the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def key_point(key: int) -> int:
    """The ring position of a lookup key (a non-negative int below 2**256)."""
    return stable_hash64(key.to_bytes(32, "big"))


@dataclass(frozen=True, slots=True)
class RingNode:
    """A member on the ring: index is what lookups return; identity places its points."""

    index: int
    identity: str  # the member's address: its points stay put when other members change
    weight: int


def virtual_node_counts(weights: Sequence[int]) -> list[int]:
    """Points per member: POINTS_PER_MEMBER per member on average, split by weight.

    Total about min(MAX_POINTS, POINTS_PER_MEMBER * members); a member of weight > 0 gets
    at least one point, so a tiny weight still owns a sliver of the ring; weight 0 gets
    none. Equal weights always give POINTS_PER_MEMBER each (below the cap), so removing
    one member from the ring leaves every other member's points where they were.
    """
    total_weight = sum(w for w in weights if w > 0)
    if total_weight == 0:
        return [0 for _ in weights]
    target = min(MAX_POINTS, POINTS_PER_MEMBER * sum(1 for w in weights if w > 0))
    return [max(1, round(target * w / total_weight)) if w > 0 else 0 for w in weights]


class HashRing:
    """Members' virtual nodes sorted by position; lookup walks clockwise."""

    __slots__ = ("_points", "_owners", "_size")

    def __init__(self, nodes: Sequence[RingNode]) -> None:
        placed: list[tuple[int, int]] = []
        for node, count in zip(nodes, virtual_node_counts([n.weight for n in nodes]), strict=True):
            for replica in range(count):
                placed.append((stable_hash64(f"{node.identity}#{replica}".encode()), node.index))
        placed.sort()
        self._points = array("Q", (p for p, _ in placed))
        self._owners = array("Q", (o for _, o in placed))
        self._size = len({n.index for n in nodes if n.weight > 0})

    def __len__(self) -> int:
        """Number of virtual nodes (points) on the ring."""
        return len(self._points)

    @property
    def members(self) -> int:
        return self._size

    def lookup(self, key: int, usable: Usable = None) -> int | None:
        """Index of the first usable member clockwise from key's point; None if none is usable.

        usable is a predicate on member index or a set of indexes; None means every member.
        """
        points = self._points
        if not points:
            return None
        start = bisect_left(points, key_point(key))
        n = len(points)
        first = self._owners[start % n]
        if usable is None or _is_usable(usable, first):
            return first
        found = self._walk(start, usable, 1)
        return found[0] if found else None

    def walk(self, key: int, usable: Usable, count: int) -> list[int]:
        """Up to count distinct usable members clockwise from key's point, nearest first."""
        if not self._points or count <= 0:
            return []
        return self._walk(bisect_left(self._points, key_point(key)), usable, count)

    def _walk(self, start: int, usable: Usable, count: int) -> list[int]:
        owners, n = self._owners, len(self._owners)
        seen: set[int] = set()
        found: list[int] = []
        for step in range(n):
            owner = owners[(start + step) % n]
            if owner in seen:
                continue
            seen.add(owner)
            if usable is None or _is_usable(usable, owner):
                found.append(owner)
                if len(found) == count:
                    break
            if len(seen) == self._size:
                break
        return found


def _is_usable(usable: Callable[[int], bool] | Collection[int], index: int) -> bool:
    if callable(usable):
        return bool(usable(index))
    return index in usable
