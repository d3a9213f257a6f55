"""Pool documents (API JSON, the pools of a pools file) -> Pool values, every problem at once.

Pure: documents come in already parsed (geodns.pools_file reads and locates YAML). The
parts of a pool are checked beside their concept: fields.py (reading fields, names),
member_fields.py, rule_fields.py, check_fields.py; here the pool as a whole (its
regions against its members) and the list of pools of a file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geodns.errors import Problem, ValidationError
from geodns.pools.check_fields import validate_check
from geodns.pools.fields import MISSING, FieldReader, name_problem, normalise_name, show
from geodns.pools.member_fields import validate_members
from geodns.pools.model import Policy, Pool
from geodns.pools.rule_fields import validate_rules

POOL_FIELDS = tuple(
    "name ttl policy max_answers min_healthy_fraction fail_open default_regions members rules"
    " check".split()
)


def parse_pool(doc: object, where: str = "", notes: list[Problem] | None = None) -> Pool:
    """A pool document -> Pool; ValidationError listing every problem (paths under where).

    notes, when given, receives each deprecated spelling the document used.
    """
    problems: list[Problem] = []
    pool = validate_pool(doc, where, problems, notes)
    if problems or pool is None:
        name = doc.get("name") if isinstance(doc, dict) else None
        raise ValidationError(f"pool {name}" if isinstance(name, str) else "pool", problems)
    return pool


def validate_pool(
    doc: object, where: str, problems: list[Problem], notes: list[Problem] | None = None
) -> Pool | None:
    """The pool, or None with every problem added to problems (deprecations to notes)."""
    c = FieldReader(problems, notes)
    before = len(problems)
    fields = c.mapping(doc, where.rstrip("."), POOL_FIELDS)
    if fields is None:
        return None
    get = fields.get
    name = MISSING
    if "name" not in fields:
        c.add(f"{where}name", "required: the pool's fully qualified name")
    elif (why := name_problem(fields["name"])) is not None:
        c.add(f"{where}name", why)
    else:
        name = normalise_name(fields["name"])
    ttl = c.integer(get("ttl", 30), f"{where}ttl", 1, 3600)
    policy = c.choice(
        get("policy", "weighted"), f"{where}policy", Policy, [p.value for p in Policy]
    )
    max_answers = c.integer(get("max_answers", 1), f"{where}max_answers", 1, 8)
    fraction = c.number(get("min_healthy_fraction", 0.0), f"{where}min_healthy_fraction", 0, 1)
    fail_open = c.boolean(get("fail_open", True), f"{where}fail_open")
    default_regions = None
    if "default_regions" in fields:
        default_regions = c.regions(fields["default_regions"], f"{where}default_regions")
    members = validate_members(c, get("members", []), f"{where}members")
    rules = validate_rules(c, get("rules", []), f"{where}rules")
    check = validate_check(c, fields["check"], f"{where}check") if "check" in fields else None
    if members is not None:
        served = {m.region for m in members}
        named = [(f"{where}default_regions[{j}]", r) for j, r in enumerate(default_regions or ())]
        for i, rule in enumerate(rules or ()):
            if rule is None:
                continue
            named += [(f"{where}rules[{i}].regions[{j}]", r) for j, r in enumerate(rule.regions)]
        for path, region in named:
            if region not in served:
                known = ", ".join(sorted(served)) or "none: the pool has no members"
                c.add(path, f"region {show(region)} has no members (regions with members: {known})")
    if len(problems) > before:
        return None
    assert isinstance(name, str) and ttl is not None and policy is not None
    assert max_answers is not None and fraction is not None and fail_open is not None
    assert members is not None and rules is not None
    return Pool(
        name=name,
        members=members,
        rules=tuple(rule for rule in rules if rule is not None),
        ttl=ttl,
        policy=policy,
        max_answers=max_answers,
        min_healthy_fraction=fraction,
        fail_open=fail_open,
        default_regions=default_regions,
        check=check,
    )


def validate_pools_document(
    doc: object, notes: list[Problem] | None = None
) -> tuple[list[Pool], list[Problem]]:
    """A pools document ({"pools": [pool, ...]}, as a pools file holds) -> the pools and
    every problem, each where a field path from the top ("pools[2].members[0].address")."""
    problems: list[Problem] = []
    c = FieldReader(problems, notes)
    items: list[Any] | None = None
    if not isinstance(doc, dict):
        c.add("(document)", f'must be a mapping with a "pools" list, got {show(doc)}')
    elif c.mapping(doc, "", ("pools",)) is not None:
        if "pools" not in doc:
            c.add("pools", "required: the list of pools ([] deletes every pool on apply)")
        else:
            items = c.list(doc["pools"], "pools")
    pools: list[Pool] = []
    first_at: dict[str, int] = {}
    for i, item in enumerate(items or ()):
        pool = validate_pool(item, f"pools[{i}].", problems, c.notes)
        if pool is not None and pool.name in first_at:
            c.add(
                f"pools[{i}].name",
                f"{pool.name} is already pools[{first_at[pool.name]}]; list each pool once",
            )
        elif pool is not None:
            first_at[pool.name] = i
            pools.append(pool)
    return pools, problems


def check_pool_in_zones(pool: Pool, zone_origins: Iterable[str], where: str = "") -> list[Problem]:
    """Problems if the pool's name is not at or below a served zone's origin.

    A pool may sit at a zone apex: its A/AAAA answers live beside the zone's SOA and NS.
    """
    origins = sorted({normalise_name(o) for o in zone_origins})
    name = pool.name
    if any(name == o or name.endswith("." + o) or o == "." for o in origins):
        return []
    served = ", ".join(origins) if origins else "no zones are loaded"
    return [Problem(f"{where}name", f"{name} is not inside a served zone (served: {served})")]


def problems_of(doc: object, where: str = "") -> list[Problem]:
    """Every problem with a pool document (empty when parse_pool would succeed)."""
    problems: list[Problem] = []
    validate_pool(doc, where, problems)
    return problems
