"""compile_pool(): record tails, groups, weight tables, rings, the CIDR rule index."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodns.dns import names, rdatatype
from geodns.dns.zone import RRset
from geodns.pools.compile import CidrIndex, CompiledRule, compile_pool
from geodns.pools.model import MatchKind, Member, Policy, Pool, Rule


def test_member_tail_is_type_class_ttl_rdlength_rdata_like_zone_rrsets_rfc1035_s4_1_3() -> None:
    pool = compile_pool(
        Pool("www.example.com.", (Member("192.0.2.1"), Member("2001:db8::1")), ttl=45)
    )
    v4, v6 = pool.members
    assert v4.tail == bytes.fromhex("0001 0001 0000002d 0004 c0000201")
    assert v4.tail == RRset(pool.name_key, rdatatype.A, 45, (bytes([192, 0, 2, 1]),)).tails[0]
    v6_rdata = ipaddress.IPv6Address("2001:db8::1").packed
    assert v6.tail == RRset(pool.name_key, rdatatype.AAAA, 45, (v6_rdata,)).tails[0]
    assert (v4.index, v6.index) == (0, 1)


def test_name_key_is_the_lowercase_wire_name() -> None:
    pool = compile_pool(Pool("WWW.Example.COM.", (Member("192.0.2.1"),)))
    assert pool.name_key == names.from_text("www.example.com.") == b"\x03www\x07example\x03com\x00"


MIXED = (
    Member("192.0.2.1", weight=10, region="us"),
    Member("192.0.2.2", weight=0, region="us"),
    Member("192.0.2.3", weight=30, region="us"),
    Member("192.0.2.4", weight=50, region="us", enabled=False),
    Member("2001:db8::1", weight=5, region="us"),
    Member("198.51.100.1", weight=7, region="eu"),
)


def test_members_are_grouped_by_region_and_family_with_cumulative_weights_of_eligible_ones() -> (
    None
):
    pool = compile_pool(Pool("lb.example.com.", MIXED, default_regions=("us", "eu")))
    us4 = pool.groups[("us", 4)]
    assert [m.member.address for m in us4.members] == [
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.4",
    ]
    assert [m.member.address for m in us4.eligible] == ["192.0.2.1", "192.0.2.3"]
    assert us4.cumulative == (10, 40)
    assert us4.addresses == ("192.0.2.1", "192.0.2.3")
    assert [m.member.address for m in pool.groups[("us", 6)].eligible] == ["2001:db8::1"]
    assert pool.families == frozenset({4, 6})
    assert pool.default_plan[4] == (us4, pool.groups[("eu", 4)])


def test_without_default_regions_every_member_of_a_family_is_one_group() -> None:
    pool = compile_pool(Pool("lb.example.com.", MIXED))
    every4 = pool.groups[(None, 4)]
    assert every4.cumulative == (10, 40, 47)
    assert pool.default_plan[4] == (every4,)
    assert ("us", 4) not in pool.groups  # no plan names a region: none is built


def test_a_family_no_member_has_gets_no_groups() -> None:
    pool = compile_pool(Pool("lb.example.com.", (Member("192.0.2.1", region="us"),)))
    assert pool.default_plan[6] == () and all(family == 4 for _, family in pool.groups)


def test_rules_naming_the_same_regions_in_the_same_order_share_one_plan() -> None:
    pool = compile_pool(
        Pool(
            "lb.example.com.",
            MIXED,
            rules=(
                Rule(MatchKind.CONTINENT, "AS", ("us", "eu")),
                Rule(MatchKind.CONTINENT, "OC", ("us", "eu", "us")),
            ),
            default_regions=("us", "eu"),
        )
    )
    assert pool.continents["AS"].plans is pool.continents["OC"].plans is pool.default_plan


def test_default_regions_and_rule_regions_resolve_to_groups_in_order() -> None:
    pool = compile_pool(
        Pool(
            "lb.example.com.",
            (Member("192.0.2.1", region="us"), Member("192.0.2.2", region="eu")),
            rules=(Rule(MatchKind.COUNTRY, "cn", ("ap", "us", "ap")),),
            default_regions=("eu", "us"),
        )
    )
    assert [g.region for g in pool.default_plan[4]] == ["eu", "us"]
    cn = pool.countries["CN"]
    assert [g.region for g in cn.plans[4]] == ["ap", "us"]  # ap has no members; listed once
    assert cn.plans[4][0].members == ()


def test_failover_tiers_are_sorted_by_priority() -> None:
    pool = compile_pool(
        Pool(
            "lb.example.com.",
            (
                Member("192.0.2.1", priority=2),
                Member("192.0.2.2", priority=0, weight=20),
                Member("192.0.2.3", priority=0, weight=10),
            ),
            policy=Policy.FAILOVER,
        )
    )
    tiers = pool.groups[(None, 4)].tiers
    assert [(t.priority, [m.member.address for m in t.members], t.cumulative) for t in tiers] == [
        (0, ["192.0.2.2", "192.0.2.3"], (20, 30)),
        (2, ["192.0.2.1"], (100,)),
    ]


def test_only_sticky_pools_build_rings() -> None:
    members = (Member("192.0.2.1"), Member("192.0.2.2"))
    sticky = compile_pool(Pool("a.example.com.", members, policy=Policy.STICKY))
    weighted = compile_pool(Pool("a.example.com.", members))
    ring = sticky.groups[(None, 4)].ring
    assert ring is not None and ring.members == 2
    assert weighted.groups[(None, 4)].ring is None


V4 = (Member("192.0.2.1", region="us", latitude=39.0, longitude=-77.5),)
CASES = {
    "weighted-no-rules": (Pool("a.test.", V4), False, False),
    "weighted-two-regions-default-order": (
        Pool("a.test.", (*V4, Member("192.0.2.2", region="eu")), default_regions=("eu", "us")),
        False,
        False,
    ),
    "round-robin-failover-adaptive-ignore-the-client": (
        Pool("a.test.", V4, policy=Policy.ADAPTIVE),
        False,
        False,
    ),
    "cidr-rule-needs-no-geo": (
        Pool("a.test.", V4, rules=(Rule(MatchKind.CIDR, "10.0.0.0/8", ("us",)),)),
        False,
        True,
    ),
    "country-rule": (
        Pool("a.test.", V4, rules=(Rule(MatchKind.COUNTRY, "CN", ("us",)),)),
        True,
        True,
    ),
    "continent-rule": (
        Pool("a.test.", V4, rules=(Rule(MatchKind.CONTINENT, "EU", ("us",)),)),
        True,
        True,
    ),
    "nearest-with-coordinates": (Pool("a.test.", V4, policy=Policy.NEAREST), True, True),
    "nearest-without-coordinates-is-weighted": (
        Pool("a.test.", (Member("192.0.2.9"),), policy=Policy.NEAREST),
        False,
        False,
    ),
    "sticky-keys-on-the-client-network": (Pool("a.test.", V4, policy=Policy.STICKY), False, True),
}


@pytest.mark.parametrize(("pool", "needs_location", "depends"), CASES.values(), ids=CASES.keys())
def test_needs_location_and_depends_on_client_rfc7871_s7_2_1(
    pool: Pool, needs_location: bool, depends: bool
) -> None:
    compiled = compile_pool(pool)
    assert (compiled.needs_location, compiled.depends_on_client) == (needs_location, depends)


def test_round_robin_counter_is_the_pools_one_mutable_counter() -> None:
    pool = compile_pool(Pool("a.test.", V4, policy=Policy.ROUND_ROBIN))
    assert isinstance(pool.round_robin, itertools.count)
    assert [next(pool.round_robin) for _ in range(3)] == [0, 1, 2]
    assert next(compile_pool(Pool("a.test.", V4)).round_robin) == 0  # per snapshot


def _index(*networks: str) -> CidrIndex:
    entries = []
    for text in networks:
        network = ipaddress.ip_network(text)
        rule = CompiledRule(Rule(MatchKind.CIDR, text, (text,)), {})
        entries.append((int(network.network_address), network.prefixlen, rule))
    return CidrIndex(ipaddress.ip_network(networks[0]).version, entries)


@pytest.mark.parametrize(
    ("networks", "client", "matched", "scope"),
    [
        (["10.0.0.0/8", "10.1.0.0/16"], "10.1.2.3", "10.1.0.0/16", 16),
        (["10.0.0.0/8", "10.1.0.0/16"], "10.200.0.1", "10.0.0.0/8", 9),
        (["10.0.0.0/8", "10.1.0.0/16"], "10.0.0.1", "10.0.0.0/8", 16),
        (["10.0.0.0/8"], "10.9.9.9", "10.0.0.0/8", 8),
        (["1.2.3.0/24"], "1.2.4.5", None, 22),
        (["1.2.3.0/24"], "200.0.0.1", None, 1),
        (["0.0.0.0/0", "192.0.2.0/24"], "192.0.2.77", "192.0.2.0/24", 24),
        (["0.0.0.0/0"], "203.0.113.1", "0.0.0.0/0", 0),
        (["192.0.2.7/32"], "192.0.2.7", "192.0.2.7/32", 32),
        (["192.0.2.7/32"], "192.0.2.6", None, 32),
        (["2001:db8::/32", "2001:db8:1::/48"], "2001:db8:2::1", "2001:db8::/32", 47),
    ],
    ids=[
        "most-specific-wins",
        "outside-the-nested-rule",
        "scope-grows-past-nested-rule",
        "single-rule-own-prefix",
        "no-match-scope-excludes-the-rule",
        "far-from-every-rule",
        "default-route-rule-and-a-specific-one",
        "default-route-rule-alone",
        "host-rule",
        "neighbour-of-host-rule",
        "ipv6",
    ],
)
def test_cidr_index_finds_most_specific_rule_and_the_scope_that_excludes_others_rfc7871_s7_2_1(
    networks: list[str], client: str, matched: str | None, scope: int
) -> None:
    found = _index(*networks).find(int(ipaddress.ip_address(client)))
    assert (found.rule.rule.value if found.rule else None, found.scope) == (matched, scope)


@settings(max_examples=200, deadline=None)
@given(
    rules=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=12
    ),
    client=st.integers(0, 2**32 - 1),
)
def test_property_cidr_scope_is_the_smallest_network_where_every_address_matches_alike(
    rules: list[tuple[int, int]], client: int
) -> None:
    networks = list(dict.fromkeys(ipaddress.IPv4Network((a, p), strict=False) for a, p in rules))
    found = _index(*(str(n) for n in networks)).find(client)
    address = ipaddress.IPv4Address(client)
    containing = [n for n in networks if address in n]
    best = max(containing, key=lambda n: n.prefixlen) if containing else None
    assert (found.rule.rule.value if found.rule else None) == (str(best) if best else None)

    def alike(prefix: int) -> bool:
        """Every address in client/prefix matches the same rule as the client."""
        cover = ipaddress.IPv4Network((client, prefix), strict=False)
        inside_best = best is None or cover.subnet_of(best)
        return inside_best and all(address in n or not n.subnet_of(cover) for n in networks)

    assert alike(found.scope)
    assert found.scope == 0 or not alike(found.scope - 1)  # never more than needed
