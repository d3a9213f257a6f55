"""Pool documents (API JSON, one item of a pools file) -> Pool values, every problem at once.

Pure: no I/O apart from parse_pools_file reading its one file. Each Problem.where is a
field path such as "members[2].address"; each message says what is wrong and what is right.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from geodns.errors import Problem, ValidationError
from geodns.pools.model import Check, CheckType, MatchKind, Member, Policy, Pool, Rule

T = TypeVar("T")

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")
POOL_FIELDS = tuple(
    "name ttl policy max_answers min_healthy_fraction fail_open default_regions members rules"
    " check".split()
)
MEMBER_FIELDS = (
    "address",
    "weight",
    "region",
    "latitude",
    "longitude",
    "priority",
    "enabled",
    "url",
)
MAX_URL_LENGTH = 2048
RULE_FIELDS = ("match", "regions")
CHECK_FIELDS = tuple(
    "type port path host expect_status body_contains tls_verify interval timeout rise fall".split()
)
HTTP_ONLY_FIELDS = ("path", "host", "expect_status", "body_contains", "tls_verify")
# Check bounds: probes faster than 0.1 s only load backends; a timeout may use the
# whole interval but not overlap the next probe of the same address.
INTERVAL_S = (0.1, 3600.0)
TIMEOUT_S = (0.01, 60.0)

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")
_REGION = re.compile(r"[A-Za-z0-9_.-]{1,63}")
_MISSING = object()


def show(value: object) -> str:
    """A value as the user wrote it in JSON/YAML terms: "abc", 3, true, null, [1, 2]."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def normalise_name(text: str) -> str:
    """Lowercase with the trailing dot; the caller has validated it (see name_problem)."""
    text = text.lower()
    return text if text.endswith(".") else text + "."


def name_problem(value: object) -> str | None:
    """Why value is not a fully qualified host name, or None (RFC 1035 §2.3.4 limits)."""
    if not isinstance(value, str) or not value or value == ".":
        return f"must be a domain name such as www.example.com, got {show(value)}"
    labels = value.lower().removesuffix(".").split(".")
    for label in labels:
        if not label:
            return f"empty label in {show(value)}: write the name without doubled dots"
        if len(label) > 63:
            return f"label {show(label[:20] + '...')} is {len(label)} characters, over 63"
        if not _LABEL.fullmatch(label):
            return (
                f"label {show(label)} must be letters, digits, '-' and '_', not starting or "
                "ending with '-' (internationalised names: use the xn-- form)"
            )
    wire_length = sum(len(label) + 1 for label in labels) + 1
    if wire_length > 255:
        return f"name is {wire_length} bytes in wire form, over 255"
    return None


class _Collector:
    """Reads fields out of one document, recording a Problem for each bad one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def mapping(self, value: object, where: str, allowed: Sequence[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.add(where or "(document)", f"must be an object with fields, got {show(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.add(
                    f"{where}.{key}" if where else key,
                    f"unknown field; expected one of: {', '.join(allowed)}",
                )
        return value

    def list(self, value: object, where: str) -> list[Any] | None:
        if not isinstance(value, list):
            self.add(where, f"must be a list, got {show(value)}")
            return None
        return value

    def integer(self, value: object, where: str, low: int, high: int | None) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            if value >= low and (high is None or value <= high):
                return value
        rule = f"from {low} to {high}" if high is not None else f"of {low} or more"
        self.add(where, f"must be an integer {rule}, got {show(value)}")
        return None

    def number(self, value: object, where: str, low: float, high: float) -> float | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and low <= value <= high:
                return float(value)
        self.add(where, f"must be a number from {low:g} to {high:g}, got {show(value)}")
        return None

    def boolean(self, value: object, where: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.add(where, f"must be true or false, got {show(value)}")
        return None

    def choice(
        self, value: object, where: str, choices: Callable[[str], T], names: Iterable[str]
    ) -> T | None:
        if isinstance(value, str):
            try:
                return choices(value)
            except ValueError:
                pass
        self.add(where, f"must be one of {', '.join(names)}; got {show(value)}")
        return None

    def region(self, value: object, where: str) -> str | None:
        if isinstance(value, str) and _REGION.fullmatch(value):
            return value
        self.add(
            where,
            f"must be a region label (1 to 63 letters, digits, '-', '_' or '.'), got {show(value)}",
        )
        return None

    def regions(self, value: object, where: str) -> tuple[str, ...] | None:
        items = self.list(value, where)
        if items is None:
            return None
        if not items:
            self.add(where, "must list at least one region")
            return None
        out: list[str] = []
        for j, item in enumerate(items):
            region = self.region(item, f"{where}[{j}]")
            if region is not None and region in out:
                self.add(f"{where}[{j}]", f"region {show(region)} is listed twice")
            elif region is not None:
                out.append(region)
        return tuple(out) if len(out) == len(items) else None


def parse_pool(doc: object, where: str = "") -> Pool:
    """A pool document -> Pool; ValidationError listing every problem (paths under where)."""
    problems: list[Problem] = []
    pool = _parse_pool(doc, where, problems)
    if problems or pool is None:
        name = doc.get("name") if isinstance(doc, dict) else None
        raise ValidationError(f"pool {name}" if isinstance(name, str) else "pool", problems)
    return pool


def _parse_pool(doc: object, where: str, problems: list[Problem]) -> Pool | None:
    c = _Collector(problems)
    before = len(problems)
    fields = c.mapping(doc, where.rstrip("."), POOL_FIELDS)
    if fields is None:
        return None
    get = fields.get
    name = _MISSING
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
    members = _members(c, get("members", []), f"{where}members")
    rules = _rules(c, get("rules", []), f"{where}rules")
    check = _check(c, fields["check"], f"{where}check") if "check" in fields else None
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


def _members(c: _Collector, value: object, where: str) -> tuple[Member, ...] | None:
    items = c.list(value, where)
    if items is None:
        return None
    out: list[Member] = []
    first_at: dict[str, int] = {}
    ok = True
    for i, item in enumerate(items):
        member = _member(c, item, f"{where}[{i}]")
        if member is None:
            ok = False
        elif member.address in first_at:
            ok = False
            c.add(
                f"{where}[{i}].address",
                f"{member.address} is already members"
                f"[{first_at[member.address]}]; list each address once per pool",
            )
        else:
            first_at[member.address] = i
            out.append(member)
    with_url = [i for i, m in enumerate(out) if m.url is not None]
    if ok and with_url and len(with_url) < len(out):
        for i, m in enumerate(out):
            if m.url is None:
                ok = False
                c.add(
                    f"{where}[{i}].url",
                    f"required because members[{with_url[0]}] has one: the HTTP redirector "
                    "may choose any member, so give every member a url, or none",
                )
    return tuple(out) if ok else None


def parse_member(doc: object, where: str = "") -> Member:
    """One member document (the API's member sub-resource) -> Member; ValidationError."""
    problems: list[Problem] = []
    member = _member(_Collector(problems), doc, where)
    if member is None:
        raise ValidationError("member", problems)
    return member


def _member(c: _Collector, doc: object, where: str) -> Member | None:
    before = len(c.problems)
    fields = c.mapping(doc, where, MEMBER_FIELDS)
    if fields is None:
        return None
    address: str | None = None
    if "address" not in fields:
        c.add(_at(where, "address"), "required: an IPv4 or IPv6 address")
    else:
        raw = fields["address"]
        try:
            address = ipaddress.ip_address(raw).compressed if isinstance(raw, str) else None
        except ValueError:
            pass
        if address is None:
            c.add(_at(where, "address"), f"not an IPv4 or IPv6 address, got {show(raw)}")
    weight = c.integer(fields.get("weight", 100), _at(where, "weight"), 0, 65535)
    region = c.region(fields.get("region", "default"), _at(where, "region"))
    lat = lon = None
    if "latitude" in fields:
        lat = c.number(fields["latitude"], _at(where, "latitude"), -90, 90)
    if "longitude" in fields:
        lon = c.number(fields["longitude"], _at(where, "longitude"), -180, 180)
    if ("latitude" in fields) != ("longitude" in fields):
        missing = "longitude" if "latitude" in fields else "latitude"
        c.add(_at(where, missing), "required with the other coordinate: give both or neither")
    priority = c.integer(fields.get("priority", 0), _at(where, "priority"), 0, None)
    enabled = c.boolean(fields.get("enabled", True), _at(where, "enabled"))
    url = None
    if "url" in fields:
        url = fields["url"]
        if (why := url_problem(url)) is not None:
            c.add(_at(where, "url"), why)
    if len(c.problems) > before:
        return None
    assert address is not None and weight is not None and region is not None
    assert priority is not None and enabled is not None
    return Member(address, weight, region, lat, lon, priority, enabled, url)


# printable ASCII but space " < > \ ^ ` { | }: what RFC 3986 lets a URL hold unencoded
_URL_SAFE = re.compile(r"[!#-;=?-\[\]_a-z~]*", re.IGNORECASE)


def url_problem(value: object) -> str | None:
    """Why value is not a base URL the redirector can put in a Location header, or None.

    http or https, a host, no credentials (every client would see them), no query or
    fragment (the request's path and query are appended), ASCII only (RFC 3986 §2).
    """
    example = "such as https://eu1.example.com or http://192.0.2.1:8080/files"
    if not isinstance(value, str) or not value:
        return f"must be an http or https base URL {example}, got {show(value)}"
    if len(value) > MAX_URL_LENGTH:
        return f"is {len(value)} characters, over {MAX_URL_LENGTH}"
    if not _URL_SAFE.fullmatch(value):
        return (
            f"has characters a URL cannot hold as they are (spaces, quotes, non-ASCII): "
            f"percent-encode them (RFC 3986 §2.1), got {show(value)}"
        )
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        return f"must start with http:// or https:// {example}, got {show(value)}"
    try:
        port = parts.port
    except ValueError:
        return f"has a port that is not 1 to 65535, got {show(value)}"
    if not parts.hostname or port == 0:
        return f"must name a host {example}, got {show(value)}"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password: every redirected client would see them"
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        return (
            "must not have a query or fragment: the request's own path and query are "
            f"appended to it, got {show(value)}"
        )
    return None


def _at(where: str, field: str) -> str:
    return f"{where}.{field}" if where else field


def _rules(c: _Collector, value: object, where: str) -> list[Rule | None] | None:
    """The rules in order, None for each bad one (so the good ones still get checked)."""
    items = c.list(value, where)
    if items is None:
        return None
    out: list[Rule | None] = []
    seen: dict[tuple[MatchKind, str], int] = {}
    for i, item in enumerate(items):
        rule = _rule(c, item, f"{where}[{i}]")
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


def _rule(c: _Collector, doc: object, where: str) -> Rule | None:
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
                kind_value = _match(c, kinds[0], match[kinds[0].value], f"{where}.match")
    regions = None
    if "regions" not in fields:
        c.add(f"{where}.regions", "required: the regions to try, in order")
    else:
        regions = c.regions(fields["regions"], f"{where}.regions")
    if kind_value is None or regions is None:
        return None
    return Rule(kind_value[0], kind_value[1], regions)


def _match(
    c: _Collector, kind: MatchKind, value: object, where: str
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


def _check(c: _Collector, doc: object, where: str) -> Check | None:
    before = len(c.problems)
    fields = c.mapping(doc, where, CHECK_FIELDS)
    if fields is None:
        return None
    kind: CheckType | None = None
    if "type" not in fields:
        c.add(f"{where}.type", "required: tcp, http or https")
    else:
        kind = c.choice(fields["type"], f"{where}.type", CheckType, [k.value for k in CheckType])
    port = None
    if "port" in fields:
        port = c.integer(fields["port"], f"{where}.port", 1, 65535)
    elif kind is CheckType.TCP:
        c.add(f"{where}.port", "required for a tcp check: 1 to 65535")
    if kind is CheckType.TCP:
        for key in HTTP_ONLY_FIELDS:
            if key in fields:
                c.add(f"{where}.{key}", "only for http and https checks; remove it for tcp")
    path = fields.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        c.add(f"{where}.path", f"must be a URL path starting with '/', got {show(path)}")
    host = fields.get("host")
    if host is not None and name_problem(host) is not None:
        c.add(f"{where}.host", f"must be a host name for the Host header, got {show(host)}")
    status = _status_range(c, fields.get("expect_status", [200, 399]), f"{where}.expect_status")
    body = fields.get("body_contains")
    if body is not None and (not isinstance(body, str) or not body):
        c.add(f"{where}.body_contains", f"must be a non-empty string, got {show(body)}")
    tls_verify = c.boolean(fields.get("tls_verify", True), f"{where}.tls_verify")
    interval = c.number(fields.get("interval", 10.0), f"{where}.interval", *INTERVAL_S)
    timeout = c.number(fields.get("timeout", 2.0), f"{where}.timeout", *TIMEOUT_S)
    if interval is not None and timeout is not None and timeout > interval:
        c.add(f"{where}.timeout", f"must not exceed interval ({interval:g} s), got {timeout:g}")
    rise = c.integer(fields.get("rise", 2), f"{where}.rise", 1, 100)
    fall = c.integer(fields.get("fall", 3), f"{where}.fall", 1, 100)
    if len(c.problems) > before:
        return None
    assert kind is not None and status is not None and tls_verify is not None
    assert interval is not None and timeout is not None and rise is not None and fall is not None
    return Check(
        type=kind,
        port=port,
        path=path,
        host=host,
        expect_status=status,
        body_contains=body,
        tls_verify=tls_verify,
        interval=interval,
        timeout=timeout,
        rise=rise,
        fall=fall,
    )


def _status_range(c: _Collector, value: object, where: str) -> tuple[int, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 100 <= value[0] <= value[1] <= 599
    ):
        return value[0], value[1]
    c.add(where, f"must be [lowest, highest] HTTP status, 100 to 599, got {show(value)}")
    return None


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


def parse_pools_file(path: Path) -> list[Pool]:
    """A YAML file with a top-level `pools:` list -> pools; ValidationError with path:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(str(path), f"cannot read: {exc}")
        raise ValidationError(f"pools file {path}", [problem]) from exc
    return parse_pools_text(text, str(path))


def parse_pools_text(text: str, source: str) -> list[Pool]:
    """Pools file text -> pools; where is "source:line: field path" for each problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ValidationError(
            f"pools file {source}", [Problem(where, f"YAML syntax error: {exc.problem}{column}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise ValidationError(
            f"pools file {source}", [Problem(source, f"YAML error: {exc}")]
        ) from exc
    problems = _duplicate_keys(node, source)
    c = _Collector(problems)
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
        pool = _parse_pool(item, f"pools[{i}].", problems)
        if pool is not None and pool.name in first_at:
            c.add(
                f"pools[{i}].name",
                f"{pool.name} is already pools[{first_at[pool.name]}]; list each pool once",
            )
        elif pool is not None:
            first_at[pool.name] = i
            pools.append(pool)
    if problems:
        located = [_locate(p, node, source) for p in problems]
        raise ValidationError(f"pools file {source}", located)
    return pools


_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _locate(problem: Problem, root: yaml.Node | None, source: str) -> Problem:
    """Prefix a field-path problem with source:line of the deepest node the path reaches."""
    if problem.where.startswith(source):
        return problem
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key, index in _STEP.findall(problem.where):
        if isinstance(node, yaml.MappingNode) and key:
            found = [(k, v) for k, v in node.value if k.value == key]
            if not found:
                break
            node, line = found[-1][1], found[-1][0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    where = f"{source}:{line}" if line is not None else source
    return Problem(f"{where}: {problem.where}", problem.message)


def _duplicate_keys(node: yaml.Node | None, source: str) -> list[Problem]:
    """YAML silently keeps the last of two equal keys; report them instead."""
    problems: list[Problem] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in current.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.value in seen:
                    problems.append(
                        Problem(
                            f"{source}:{line}",
                            f"duplicate key {show(key.value)} "
                            f"(first on line {seen[key.value]}): keep one",
                        )
                    )
                elif isinstance(key, yaml.ScalarNode):
                    seen[key.value] = line
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return problems


def problems_of(doc: object, where: str = "") -> list[Problem]:
    """Every problem with a pool document (empty when parse_pool would succeed)."""
    problems: list[Problem] = []
    _parse_pool(doc, where, problems)
    return problems
