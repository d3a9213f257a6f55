"""Plan a pools apply: what to create, update and delete to turn current into desired.

Pure: no I/O. `geodns pools apply` prints describe() for --dry-run and otherwise
carries the plan out through the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from geodns.pools.model import Check, Member, Pool, Rule

_POOL_SCALARS = ("ttl", "policy", "max_answers", "min_healthy_fraction", "fail_open")
_MEMBER_FIELDS = ("weight", "region", "latitude", "longitude", "priority", "enabled", "url")


@dataclass(frozen=True, slots=True)
class Update:
    current: Pool
    desired: Pool

    @property
    def name(self) -> str:
        return self.desired.name


@dataclass(frozen=True, slots=True)
class Plan:
    """Changes in name order; apply create and update before delete."""

    create: tuple[Pool, ...] = ()
    update: tuple[Update, ...] = ()
    delete: tuple[Pool, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)

    def describe(self) -> list[str]:
        """One line per change: "+ create NAME", "~ update NAME: what", "- delete NAME"."""
        lines = [f"+ create {pool.name} ({_summary(pool)})" for pool in self.create]
        for change in self.update:
            lines += [
                f"~ update {change.name}: {what}"
                for what in diff_pool(change.current, change.desired)
            ]
        lines += [f"- delete {pool.name} ({_summary(pool)})" for pool in self.delete]
        return lines


def plan(current: Sequence[Pool], desired: Sequence[Pool]) -> Plan:
    """The changes that make current equal desired (pools matched by name)."""
    have = {pool.name: pool for pool in current}
    want = {pool.name: pool for pool in desired}
    return Plan(
        create=tuple(want[name] for name in sorted(want.keys() - have.keys())),
        update=tuple(
            Update(have[name], want[name])
            for name in sorted(want.keys() & have.keys())
            if have[name] != want[name]
        ),
        delete=tuple(have[name] for name in sorted(have.keys() - want.keys())),
    )


def diff_pool(current: Pool, desired: Pool) -> list[str]:
    """Human lines for each difference between two versions of one pool."""
    out = [
        f"{key} {_text(getattr(current, key))} -> {_text(getattr(desired, key))}"
        for key in _POOL_SCALARS
        if getattr(current, key) != getattr(desired, key)
    ]
    if current.default_regions != desired.default_regions:
        out.append(
            f"default_regions {_regions(current.default_regions)} -> "
            f"{_regions(desired.default_regions)}"
        )
    out += _diff_members(current.members, desired.members)
    out += _diff_rules(current.rules, desired.rules)
    out += _diff_check(current.check, desired.check)
    return out


def _diff_members(current: tuple[Member, ...], desired: tuple[Member, ...]) -> list[str]:
    have = {m.address: m for m in current}
    want = {m.address: m for m in desired}
    out = [f"member + {m.address} ({_member(m)})" for m in desired if m.address not in have]
    out += [f"member - {m.address}" for m in current if m.address not in want]
    for m in desired:
        old = have.get(m.address)
        if old is not None and old != m:
            out += [
                f"member {m.address} {key} {_text(getattr(old, key))} -> {_text(getattr(m, key))}"
                for key in _MEMBER_FIELDS
                if getattr(old, key) != getattr(m, key)
            ]
    kept = [m.address for m in current if m.address in want]
    if not out and kept != [m.address for m in desired if m.address in have]:
        out.append(f"members reordered: {', '.join(m.address for m in desired)}")
    return out


def _diff_rules(current: tuple[Rule, ...], desired: tuple[Rule, ...]) -> list[str]:
    out = [f"rule - {_rule(r)}" for r in current if r not in desired]
    out += [f"rule + {_rule(r)}" for r in desired if r not in current]
    if not out and current != desired:
        out.append(f"rules reordered: {'; '.join(_rule(r) for r in desired)}")
    return out


def _diff_check(current: Check | None, desired: Check | None) -> list[str]:
    if current == desired:
        return []
    if current is None or desired is None or current.type != desired.type:
        return [f"check {_check(current)} -> {_check(desired)}"]
    return [
        f"check.{f.name} {_text(getattr(current, f.name))} -> {_text(getattr(desired, f.name))}"
        for f in fields(Check)
        if getattr(current, f.name) != getattr(desired, f.name)
    ]


def _summary(pool: Pool) -> str:
    regions = len(pool.regions())
    return (
        f"{pool.policy.value}, {len(pool.members)} member{'s' * (len(pool.members) != 1)} "
        f"in {regions} region{'s' * (regions != 1)}, ttl {pool.ttl}"
    )


def _member(member: Member) -> str:
    text = f"region {member.region}, weight {member.weight}"
    if member.priority:
        text += f", priority {member.priority}"
    return text if member.enabled else text + ", disabled"


def _rule(rule: Rule) -> str:
    return f"{rule.kind.value} {rule.value} -> [{', '.join(rule.regions)}]"


def _check(check: Check | None) -> str:
    return "none" if check is None else f"{check.type.value}:{check.effective_port}"


def _regions(regions: tuple[str, ...] | None) -> str:
    return "(all members)" if regions is None else f"[{', '.join(regions)}]"


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return f"[{', '.join(str(v) for v in value)}]"
    return str(value)
