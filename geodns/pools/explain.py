"""Explanation: why a selection came out as it did, built only when asked for.

Pure: no I/O. select(explain=True) hands prepare() a Trace, which records the route,
each region tried and the fail-open decision along the very code path of the answer;
build() freezes it into an Explanation the API returns as JSON.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from geodns.geo import Location
from geodns.pools.compile import BITS, QTYPE_FAMILY, CompiledMember, CompiledPool, Group
from geodns.pools.model import Client, HealthView, Policy, Rule


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    address: str
    configured_weight: int
    effective_weight: int
    priority: int
    status: str  # "selected", "usable", "disabled", "weight 0", "down: <reason>", ...


@dataclass(frozen=True, slots=True)
class Exclusion:
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    region: str | None  # None: every member (no default_regions)
    outcome: str
    members: tuple[MemberOutcome, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why select() answered as it did: location, rule, regions tried, exclusions, scope."""

    pool: str
    qtype: int
    family: int
    client: str  # "81.2.69.0/24"
    location: Location | None
    rule: Rule | None  # None: default order
    rule_reason: str
    policy: str
    regions: tuple[RegionOutcome, ...]
    excluded: tuple[Exclusion, ...]
    fail_open: bool
    selected: tuple[str, ...]
    scope_prefix: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data for the API's explain endpoint (lists, strings, numbers, None)."""
        plain = _plain(self)
        assert isinstance(plain, dict)
        return plain


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


_Row = tuple[CompiledMember, int, str]  # member, effective weight, status


class Trace:
    """Collects the decisions of one select(explain=True) call, then freezes them."""

    def __init__(self, pool: CompiledPool, qtype: int, client: Client) -> None:
        self.pool, self.qtype, self.client = pool, qtype, client
        self.rule: Rule | None = None
        self.rule_reason = ""
        self.regions: list[tuple[Group, str, list[_Row]]] = []
        self.used_fail_open = False

    def route(self, rule: Rule | None, reason: str) -> None:
        self.rule, self.rule_reason = rule, reason

    def region(
        self,
        group: Group,
        health: HealthView,
        usable: Sequence[CompiledMember],
        weights: list[int] | None,
        below: bool,
        healthy: int,
    ) -> None:
        fraction = self.pool.min_healthy_fraction
        usable_at = {m.index for m in usable}
        rows: list[_Row] = []
        for m in group.members:
            address = m.member.address
            effective = health.effective_weights.get(address, m.member.weight)
            if self.pool.policy is not Policy.ADAPTIVE:
                effective = m.member.weight
            if not m.member.enabled:
                status = "disabled"
            elif m.member.weight == 0:
                status = "weight 0"
            elif address in health.down:
                status = f"down: {health.reasons.get(address, '') or 'reported down'}"
            elif m.index not in usable_at:
                status = "effective weight 0"
            elif below:
                status = "region below min_healthy_fraction"
            else:
                status = "usable"
            rows.append((m, effective, status))
        if not group.members:
            outcome = "no members of this address family"
        elif not group.eligible:
            outcome = "no enabled member with weight > 0"
        elif below:
            outcome = (
                f"down: {healthy} of {len(group.eligible)} healthy, "
                f"below min_healthy_fraction {fraction:g}"
            )
        elif not usable:
            outcome = "down: no usable member"
        else:
            outcome = "answered"
        self.regions.append((group, outcome, rows))

    def fail_open(self, group: Group) -> None:
        self.used_fail_open = True
        rows = [(m, m.member.weight, "usable (fail_open)") for m in group.eligible]
        self.regions.append((group, "fail_open: every region down, answered ignoring health", rows))

    def build(self, picked: tuple[CompiledMember, ...], scope: int) -> Explanation:
        client, pool = self.client, self.pool
        chosen = {m.index for m in picked}
        regions = []
        excluded: list[Exclusion] = []
        for group, outcome, rows in self.regions:
            outcomes = []
            for m, effective, status in rows:
                if m.index in chosen:
                    status = "selected"
                elif status not in ("usable", "usable (fail_open)"):
                    excluded.append(Exclusion(m.member.address, status))
                member = m.member
                outcomes.append(
                    MemberOutcome(member.address, member.weight, effective, member.priority, status)
                )
            regions.append(RegionOutcome(group.region, outcome, tuple(outcomes)))
        family = QTYPE_FAMILY.get(self.qtype)
        for m in pool.members:
            if m.member.family != family:
                excluded.append(Exclusion(m.member.address, "other address family"))
        return Explanation(
            pool=pool.pool.name,
            qtype=self.qtype,
            family=family or 0,
            client=network_text(client),
            location=client.location,
            rule=self.rule,
            rule_reason=self.rule_reason or "no member of this address family",
            policy=pool.policy.value,
            regions=tuple(regions),
            excluded=tuple(excluded),
            fail_open=self.used_fail_open,
            selected=tuple(m.member.address for m in picked),
            scope_prefix=scope,
        )


def network_text(client: Client) -> str:
    bits = BITS[client.family]
    shift = bits - client.source_prefix
    address = client.address >> shift << shift if client.source_prefix else 0
    text = ipaddress.IPv4Address(address) if client.family == 4 else ipaddress.IPv6Address(address)
    return f"{text}/{client.source_prefix}"
