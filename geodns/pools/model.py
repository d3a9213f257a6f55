"""Pools as plain values: Pool, Member, Rule, Check, Policy, HealthView, and the Client a
selection is made for.

Pure: no I/O, no ORM. The same document shape travels through the REST API, the
pools YAML file and the store; validate.py turns a document into these values,
to_document() turns them back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from geodns.geo import Location


class Policy(enum.StrEnum):
    WEIGHTED = "weighted"
    NEAREST = "nearest"
    STICKY = "sticky"
    ROUND_ROBIN = "round_robin"
    FAILOVER = "failover"
    ADAPTIVE = "adaptive"


class MatchKind(enum.StrEnum):
    CIDR = "cidr"
    COUNTRY = "country"
    CONTINENT = "continent"


class CheckType(enum.StrEnum):
    TCP = "tcp"
    HTTP = "http"
    HTTPS = "https"


DEFAULT_TTL = 30
DEFAULT_WEIGHT = 100
DEFAULT_REGION = "default"


@dataclass(frozen=True, slots=True)
class Member:
    address: str  # normalised text form (ipaddress.ip_address(...).compressed)
    weight: int = DEFAULT_WEIGHT  # 0..65535; 0 drains the member
    region: str = DEFAULT_REGION
    latitude: float | None = None
    longitude: float | None = None
    priority: int = 0  # failover: the lowest value with a healthy member serves
    enabled: bool = True
    url: str | None = None  # the HTTP redirector's base URL for this member (http or https)

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4


@dataclass(frozen=True, slots=True)
class Rule:
    kind: MatchKind
    value: str  # "10.0.0.0/8" (normalised network), "CN", "EU"
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Check:
    type: CheckType
    port: int | None = None  # None: 80 for http, 443 for https; required for tcp
    path: str = "/"
    host: str | None = None
    expect_status: tuple[int, int] = (200, 399)
    body_contains: str | None = None
    tls_verify: bool = True
    interval_s: float = 10.0
    timeout_s: float = 2.0
    rise: int = 2
    fall: int = 3

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 443 if self.type is CheckType.HTTPS else 80


@dataclass(frozen=True, slots=True)
class Pool:
    name: str  # fully qualified, lowercase, with the trailing dot
    members: tuple[Member, ...] = ()
    rules: tuple[Rule, ...] = ()
    ttl: int = DEFAULT_TTL
    policy: Policy = Policy.WEIGHTED
    max_answers: int = 1
    min_healthy_fraction: float = 0.0
    fail_open: bool = True
    default_regions: tuple[str, ...] | None = None  # None: all members form one group
    check: Check | None = None

    def regions(self) -> tuple[str, ...]:
        """Every region label in member order, each once."""
        return tuple(dict.fromkeys(m.region for m in self.members))


@dataclass(frozen=True, slots=True)
class AddressHealth:
    down: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class HealthView:
    """Which addresses are down right now, as the snapshot froze it."""

    down: frozenset[str] = frozenset()
    reasons: dict[str, str] = field(default_factory=dict, compare=False)
    # adaptive policy: address -> effective weight (absent: configured weight)
    effective_weights: dict[str, int] = field(default_factory=dict, compare=False)

    def is_up(self, address: str) -> bool:
        return address not in self.down


def to_document(pool: Pool) -> dict[str, Any]:
    """The pool as the API and YAML document (every field, defaults included)."""
    doc: dict[str, Any] = {
        "name": pool.name,
        "ttl": pool.ttl,
        "policy": pool.policy.value,
        "max_answers": pool.max_answers,
        "min_healthy_fraction": pool.min_healthy_fraction,
        "fail_open": pool.fail_open,
    }
    if pool.default_regions is not None:
        doc["default_regions"] = list(pool.default_regions)
    doc["members"] = [member_to_document(m) for m in pool.members]
    doc["rules"] = [
        {"match": {rule.kind.value: rule.value}, "regions": list(rule.regions)}
        for rule in pool.rules
    ]
    if pool.check is not None:
        doc["check"] = check_to_document(pool.check)
    return doc


def member_to_document(member: Member) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "address": member.address,
        "weight": member.weight,
        "region": member.region,
    }
    if member.latitude is not None:
        doc["latitude"] = member.latitude
    if member.longitude is not None:
        doc["longitude"] = member.longitude
    doc["priority"] = member.priority
    doc["enabled"] = member.enabled
    if member.url is not None:
        doc["url"] = member.url
    return doc


def check_to_document(check: Check) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": check.type.value}
    if check.port is not None:
        doc["port"] = check.port
    if check.type is not CheckType.TCP:
        doc["path"] = check.path
        if check.host is not None:
            doc["host"] = check.host
        doc["expect_status"] = list(check.expect_status)
        if check.body_contains is not None:
            doc["body_contains"] = check.body_contains
        doc["tls_verify"] = check.tls_verify
    doc.update(
        interval_s=check.interval_s, timeout_s=check.timeout_s, rise=check.rise, fall=check.fall
    )
    return doc


@dataclass(frozen=True, slots=True)
class Client:
    """Who asks: the ECS (or source) address, already masked to source_prefix.

    source_prefix is capped at /24 (IPv4) and /56 (IPv6) for ECS, 32/128 for a query
    without ECS; 0 means no client information (RFC 7871 §7.1.2): default order, scope 0.
    location is the GeoReader's answer, or None when there is no database or the pool
    does not need one (CompiledPool.needs_location).
    """

    family: int
    address: int
    source_prefix: int
    location: Location | None = None
