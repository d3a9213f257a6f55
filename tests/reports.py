"""Probe reports for the pure health tests: shaped as geodns.store returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class R:
    """A report as the store returns it (the Vote protocol)."""

    probe: str
    down: bool
    reason: str = ""
    reported_at: datetime = T0
    ttl_s: float = 60.0


@dataclass(frozen=True)
class AR(R):
    """A report that also names its address, as geodns.store.repository.Report does."""

    address: str = "192.0.2.1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
