"""Rule documents -> Rule values: which clients (CIDR, country, continent) try which regions.

Pure.
"""

from __future__ import annotations

import ipaddress

from geodns.pools.fields import FieldReader, show
from geodns.pools.model import MatchKind, Rule

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
RULE_FIELDS = ("match", "regions")


def validate_rules(c: FieldReader, value: object, where: str) -> list[Rule | None] | None:
    """The rules in order, None for each bad one (so the good ones still get checked)."""
    items = c.list(value, where)
    if items is None:
        return None
    out: list[Rule | None] = []
    seen: dict[tuple[MatchKind, str], int] = {}
    for i, item in enumerate(items):
        rule = validate_rule(c, item, f"{where}[{i}]")
        out.append(rule)
        if rule is not None and (rule.kind, rule.value) in seen:
            c.add(
                f"{where}[{i}].match",
                f"same match as rules[{seen[rule.kind, rule.value]}], "
                "which always wins: remove one",
            )
        elif rule is not None:
            seen[rule.kind, rule.value] = i
    return out


def validate_rule(c: FieldReader, doc: object, where: str) -> Rule | None:
    fields = c.mapping(doc, where, RULE_FIELDS)
    if fields is None:
        return None
    kind_value: tuple[MatchKind, str] | None = None
    if "match" not in fields:
        c.add(f"{where}.match", "required: {cidr: ...}, {country: ...} or {continent: ...}")
    else:
        match = c.mapping(fields["match"], f"{where}.match", [k.value for k in MatchKind])
        if match is not None:
            kinds = [k for k in MatchKind if k.value in match]
            if len(kinds) != 1:
                got = ", ".join(k.value for k in kinds) or "none"
                c.add(
                    f"{where}.match",
                    f"must have exactly one of cidr, country, continent; got {got}",
                )
            else:
                kind_value = validate_match(c, kinds[0], match[kinds[0].value], f"{where}.match")
    regions = None
    if "regions" not in fields:
        c.add(f"{where}.regions", "required: the regions to try, in order")
    else:
        regions = c.regions(fields["regions"], f"{where}.regions")
    if kind_value is None or regions is None:
        return None
    return Rule(kind_value[0], kind_value[1], regions)


def validate_match(
    c: FieldReader, kind: MatchKind, value: object, where: str
) -> tuple[MatchKind, str] | None:
    where = f"{where}.{kind.value}"
    if kind is MatchKind.CIDR:
        try:
            network = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
        except ValueError:
            network = None
        if network is None:
            c.add(where, f"not an IPv4 or IPv6 network such as 10.0.0.0/8, got {show(value)}")
            return None
        if ipaddress.ip_interface(str(value)).ip != network.network_address:
            c.add(where, f"{value} has host bits set: the network is {network.compressed}")
            return None
        return kind, network.compressed
    if kind is MatchKind.COUNTRY:
        if isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha():
            return kind, value.upper()
        hint = ' (YAML reads a bare NO as false: quote it, "NO")' if isinstance(value, bool) else ""
        c.add(
            where,
            "must be an ISO 3166-1 alpha-2 country code (two letters, such as CN), "
            f"got {show(value)}{hint}",
        )
        return None
    if isinstance(value, str) and value.upper() in CONTINENTS:
        return kind, value.upper()
    c.add(where, f"must be a continent code, one of {', '.join(CONTINENTS)}; got {show(value)}")
    return None
