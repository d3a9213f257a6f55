"""The exceptions geodns raises on purpose, one family per boundary.

Pure: no I/O. Wire errors live in geodns.dns.wire (FormError and its leaves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GeodnsError(Exception):
    """Root of every error geodns raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where it is and what would be right."""

    where: str  # "zones/example.com.zone:14" or "members[2].weight"
    message: str


class ValidationError(GeodnsError):
    """An input with one or more problems, all collected before raising."""

    def __init__(self, subject: str, problems: Sequence[Problem]) -> None:
        self.subject = subject
        self.problems = tuple(problems)
        detail = "\n".join(f"  - {p.where}: {p.message}" for p in self.problems)
        super().__init__(f"invalid {subject}:\n{detail}")


class ZoneFileError(ValidationError):
    """A zone file that cannot be served; each problem's where is path:line."""


class ConfigError(GeodnsError):
    """Settings that cannot be used to start."""


class NotFound(GeodnsError):
    """The named thing does not exist in the store."""


class Conflict(GeodnsError):
    """The write collides with what the store holds (name taken, stale version)."""


class StoreUnavailable(GeodnsError):
    """The database could not be reached or failed; wraps the driver's error."""


class StoreTimedOut(StoreUnavailable):
    """The database did not answer within the store's connect or statement timeout."""


class StaleVersion(Conflict):
    """If-Match named a version the pool no longer has (the API's 412)."""

    def __init__(self, name: str, expected: int, current: int) -> None:
        self.current_version = current
        super().__init__(
            f"pool {name} is at version {current}, not {expected}: read it again and retry"
        )
