"""select(): rules, regions, health, policies and the ECS scope, on MaxMind's test data."""

from __future__ import annotations

import ipaddress
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from geodns.dns import rdatatype
from geodns.geo import GeoReader, Location, open_geo
from geodns.pools.compile import CompiledPool, compile_pool
from geodns.pools.model import Client, HealthView, MatchKind, Member, Policy, Pool, Rule
from geodns.pools.select import Selection, select

CITY = Path(__file__).resolve().parents[2] / "data" / "maxmind" / "GeoIP2-City-Test.mmdb"
NONE = HealthView()

US = Member("192.0.2.1", region="us", latitude=39.0, longitude=-77.5)  # Ashburn
EU = Member("192.0.2.2", region="eu", latitude=50.1, longitude=8.7)  # Frankfurt
AP = Member("192.0.2.3", region="ap", latitude=35.7, longitude=139.7)  # Tokyo
EU6 = Member("2001:db8::2", region="eu", latitude=50.1, longitude=8.7)


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoReader]:
    reader = open_geo(str(CITY))
    assert reader is not None
    with reader:
        yield reader


def client(text: str, prefix: int | None = None, geo: GeoReader | None = None) -> Client:
    """A client at text/prefix (no prefix: the query source, /32 or /128)."""
    ip = ipaddress.ip_address(text)
    bits = ip.max_prefixlen
    prefix = bits if prefix is None else prefix
    address = int(ip) >> (bits - prefix) << (bits - prefix) if prefix else 0
    location = geo.locate(ip.version, address) if geo is not None else None
    return Client(ip.version, address, prefix, location)


def pick(
    pool: CompiledPool,
    who: Client,
    health: HealthView = NONE,
    seed: int = 1,
    qtype: int = rdatatype.A,
) -> Selection:
    return select(pool, qtype, who, health, random.Random(seed))


def addresses(selection: Selection) -> list[str]:
    return [m.member.address for m in selection.members]


def down(*addresses: str, reason: str = "probe timeout") -> HealthView:
    return HealthView(frozenset(addresses), {a: reason for a in addresses})


def members(region: str, count: int) -> tuple[Member, ...]:
    """count equal members 198.51.100.1, .2, ... in region."""
    return tuple(Member(f"198.51.100.{i + 1}", region=region) for i in range(count))


GEO_POOL = compile_pool(
    Pool(
        "www.example.com.",
        (US, EU, AP, EU6),
        rules=(
            Rule(MatchKind.CIDR, "81.2.69.0/24", ("ap",)),
            Rule(MatchKind.CIDR, "81.2.69.142/31", ("us",)),
            Rule(MatchKind.COUNTRY, "CN", ("ap", "us")),
            Rule(MatchKind.COUNTRY, "GB", ("us",)),
            Rule(MatchKind.CONTINENT, "EU", ("eu", "us")),
        ),
        default_regions=("us", "eu"),
    )
)


# -- rules: most specific CIDR > country > continent > default order --------------------


@pytest.mark.parametrize(
    ("address", "expected", "scope"),
    [
        ("81.2.69.142", "192.0.2.1", 31),  # the /31 rule beats the /24 rule
        # the /24 rule beats country GB; scope 27 keeps the /31 rule's clients out
        ("81.2.69.160", "192.0.2.3", 27),
        ("2.125.160.216", "192.0.2.1", 29),  # country GB beats continent EU; geo /29
        ("89.160.20.112", "192.0.2.2", 28),  # SE: continent EU; geo /28
        ("175.16.199.9", "192.0.2.3", 24),  # CN: country rule, first region ap
        ("216.160.83.56", "192.0.2.1", 29),  # US: no rule matches; default order us first
        ("10.0.0.1", "192.0.2.1", 8),  # unknown to geo: default order; the empty /8 decided
    ],
    ids=["cidr-31", "cidr-24-over-country", "country-over-continent", "continent", "country-cn",
         "no-rule-default-order", "unknown-address-default-order"],
)  # fmt: skip
def test_rule_precedence_most_specific_cidr_then_country_then_continent_then_default(
    geo: GeoReader, address: str, expected: str, scope: int
) -> None:
    selection = pick(GEO_POOL, client(address, geo=geo))
    assert (addresses(selection), selection.scope_prefix) == ([expected], scope)


def test_without_default_regions_every_member_forms_one_group() -> None:
    pool = compile_pool(Pool("a.test.", (US, EU, AP), max_answers=3))
    assert sorted(addresses(pick(pool, client("192.0.2.99")))) == sorted(
        [US.address, EU.address, AP.address]
    )


def test_source_prefix_zero_routes_by_default_order_with_scope_0_rfc7871_s7_1_2() -> None:
    pool = compile_pool(
        Pool(
            "a.test.",
            (US, EU),
            rules=(Rule(MatchKind.CIDR, "0.0.0.0/0", ("eu",)),),
            default_regions=("us", "eu"),
        )
    )
    assert pick(pool, client("81.2.69.142")).members[0].member is EU  # /0 rule matches all
    nobody = Client(4, 0, 0, None)
    selection = pick(pool, nobody)
    assert (addresses(selection), selection.scope_prefix) == ([US.address], 0)


# -- regions, health, avalanche guard, fail-open ------------------------------------------


def test_next_region_answers_when_the_first_has_no_healthy_member() -> None:
    pool = compile_pool(Pool("a.test.", (US, EU), default_regions=("us", "eu")))
    assert addresses(pick(pool, client("192.0.2.99"), down(US.address))) == [EU.address]


def test_disabled_and_zero_weight_members_never_answer_even_failing_open() -> None:
    pool = compile_pool(
        Pool(
            "a.test.",
            (
                Member("192.0.2.10", enabled=False),
                Member("192.0.2.11", weight=0),
                Member("192.0.2.12"),
            ),
            max_answers=3,
        )
    )
    assert addresses(pick(pool, client("192.0.2.99"))) == ["192.0.2.12"]
    assert addresses(pick(pool, client("192.0.2.99"), down("192.0.2.12"))) == ["192.0.2.12"]


@pytest.mark.parametrize(
    ("fraction", "answer_region"),
    [(0.5, "eu"), (0.75, "us")],
    ids=["half-healthy-meets-0.5", "half-healthy-below-0.75-region-down"],
)
def test_avalanche_guard_region_below_min_healthy_fraction_counts_as_down(
    fraction: float, answer_region: str
) -> None:
    eu = members("eu", 4)
    pool = compile_pool(
        Pool(
            "a.test.",
            (*eu, US),
            default_regions=("eu", "us"),
            min_healthy_fraction=fraction,
            max_answers=4,
        )
    )
    selection = pick(pool, client("192.0.2.99"), down(eu[0].address, eu[1].address))
    assert {m.member.region for m in selection.members} == {answer_region}
    if answer_region == "eu":
        assert sorted(addresses(selection)) == [eu[2].address, eu[3].address]


def test_avalanche_guard_compares_the_exact_fraction_3_of_10_meets_0_3() -> None:
    pool = compile_pool(Pool("a.test.", members("eu", 10), min_healthy_fraction=0.3))
    health = down(*(f"198.51.100.{i}" for i in range(4, 11)))  # 3 of 10 healthy
    assert addresses(pick(pool, client("192.0.2.99"), health))[0] in {
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
    }


def test_every_region_down_fails_open_from_the_first_region_ignoring_health() -> None:
    pool = compile_pool(Pool("a.test.", (US, EU), default_regions=("eu", "us"), fail_open=True))
    assert addresses(pick(pool, client("192.0.2.99"), down(US.address, EU.address))) == [EU.address]


def test_every_region_down_without_fail_open_is_nodata() -> None:
    pool = compile_pool(Pool("a.test.", (US, EU), default_regions=("eu", "us"), fail_open=False))
    assert pick(pool, client("192.0.2.99"), down(US.address, EU.address)).members == ()


# -- address families --------------------------------------------------------------------


def test_only_the_qtypes_family_answers_a_then_aaaa() -> None:
    pool = compile_pool(Pool("a.test.", (US, EU6, EU), default_regions=("us", "eu")))
    assert addresses(pick(pool, client("192.0.2.99"), qtype=rdatatype.A)) == [US.address]
    # us has no IPv6 member: eu answers AAAA
    assert addresses(pick(pool, client("192.0.2.99"), qtype=rdatatype.AAAA)) == [EU6.address]


def test_pool_without_a_member_of_the_family_is_nodata_with_scope_0() -> None:
    pool = compile_pool(
        Pool("a.test.", (US,), rules=(Rule(MatchKind.CIDR, "10.0.0.0/8", ("us",)),))
    )
    for qtype in (rdatatype.AAAA, rdatatype.MX):
        selection = pick(pool, client("10.1.2.3"), qtype=qtype)
        assert (selection.members, selection.scope_prefix) == ((), 0)


# -- policies -----------------------------------------------------------------------------


def test_weighted_shares_match_weights_within_one_point_over_100k_queries() -> None:
    pool = compile_pool(
        Pool(
            "a.test.",
            (Member("192.0.2.1", weight=50), Member("192.0.2.2", weight=30),
             Member("192.0.2.3", weight=20)),
        )
    )  # fmt: skip
    rng, who = random.Random(42), client("192.0.2.99")
    counts = Counter(select(pool, rdatatype.A, who, NONE, rng).members[0].member.address
                     for _ in range(100_000))  # fmt: skip
    for address, weight in (("192.0.2.1", 50), ("192.0.2.2", 30), ("192.0.2.3", 20)):
        assert abs(counts[address] / 100_000 - weight / 100) < 0.01


def test_weighted_samples_without_replacement_up_to_max_answers() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 5), max_answers=3))
    for seed in range(50):
        picked = addresses(pick(pool, client("192.0.2.99"), seed=seed))
        assert len(picked) == len(set(picked)) == 3


def test_same_inputs_and_rng_state_give_the_same_answer() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 8), max_answers=2))
    assert pick(pool, client("192.0.2.99"), seed=9) == pick(pool, client("192.0.2.99"), seed=9)


def test_adaptive_draws_by_effective_weight_from_health() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 3), policy=Policy.ADAPTIVE))
    health = HealthView(effective_weights={"198.51.100.1": 300, "198.51.100.3": 0})
    rng, who = random.Random(3), client("192.0.2.99")
    counts = Counter(select(pool, rdatatype.A, who, health, rng).members[0].member.address
                     for _ in range(40_000))  # fmt: skip
    assert counts["198.51.100.3"] == 0  # effective weight 0: never
    assert abs(counts["198.51.100.1"] / 40_000 - 0.75) < 0.01  # 300 : 100 (configured)


def test_nearest_orders_by_great_circle_distance_from_the_client(geo: GeoReader) -> None:
    pool = compile_pool(Pool("a.test.", (US, EU, AP, Member("192.0.2.9")), policy=Policy.NEAREST,
                             max_answers=4))  # fmt: skip
    london = pick(pool, client("81.2.69.142", geo=geo))
    assert addresses(london) == [EU.address, US.address, AP.address, "192.0.2.9"]
    assert london.scope_prefix == 31  # the geo network's prefix
    changchun = pick(pool, client("175.16.199.0", 24, geo))
    assert addresses(changchun)[:2] == [AP.address, EU.address]


def test_nearest_without_client_coordinates_is_weighted(geo: GeoReader) -> None:
    pool = compile_pool(Pool("a.test.", (US, EU), policy=Policy.NEAREST))
    seen = {addresses(pick(pool, client("10.0.0.1", geo=geo), seed=s))[0] for s in range(40)}
    assert seen == {US.address, EU.address}
    assert pick(pool, client("10.0.0.1", geo=geo)).scope_prefix == 8  # geo said "unknown"


def test_nearest_pool_without_member_coordinates_is_weighted_even_with_geo_rules(
    geo: GeoReader,
) -> None:
    pool = compile_pool(
        Pool(
            "a.test.",
            members("eu", 2),
            policy=Policy.NEAREST,
            rules=(Rule(MatchKind.COUNTRY, "GB", ("eu",)),),
        )
    )
    who = client("81.2.69.142", geo=geo)
    assert {addresses(pick(pool, who, seed=s))[0] for s in range(40)} == {
        "198.51.100.1",
        "198.51.100.2",
    }


def test_sticky_gives_a_subnet_the_same_member_whatever_the_rng(geo: GeoReader) -> None:
    pool = compile_pool(Pool("a.test.", members("x", 10), policy=Policy.STICKY))
    for text in ("175.16.199.0", "81.2.69.160", "192.0.2.0"):
        who = client(text, 24, geo)
        assert len({addresses(pick(pool, who, seed=s))[0] for s in range(20)}) == 1


def test_sticky_member_down_moves_only_its_own_clients_about_10_percent() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 10), policy=Policy.STICKY))
    rng = random.Random(5)
    clients = [Client(4, rng.getrandbits(24) << 8, 24, None) for _ in range(10_000)]
    before = [pick(pool, c).members[0].member.address for c in clients]
    gone = "198.51.100.4"
    after = [pick(pool, c, down(gone)).members[0].member.address for c in clients]
    moved = [i for i in range(len(clients)) if before[i] != after[i]]
    assert moved == [i for i in range(len(clients)) if before[i] == gone]
    assert 0.07 < len(moved) / len(clients) < 0.13


def test_sticky_extra_answers_are_the_next_distinct_members_clockwise() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 5), policy=Policy.STICKY, max_answers=3))
    who = client("203.0.113.0", 24)
    first = addresses(pick(pool, who))
    assert len(set(first)) == 3
    assert addresses(pick(pool, who, down(first[0])))[:2] == first[1:]


def test_round_robin_rotates_through_usable_members() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 3), policy=Policy.ROUND_ROBIN, max_answers=2))
    answers = [addresses(pick(pool, client("192.0.2.99"))) for _ in range(3)]
    assert answers == [
        ["198.51.100.1", "198.51.100.2"],
        ["198.51.100.2", "198.51.100.3"],
        ["198.51.100.3", "198.51.100.1"],
    ]
    firsts = {addresses(pick(pool, client("192.0.2.99"), down("198.51.100.2")))[0]
              for _ in range(4)}  # fmt: skip
    assert firsts == {"198.51.100.1", "198.51.100.3"}


def test_failover_answers_from_the_lowest_priority_with_a_usable_member() -> None:
    primary = (Member("192.0.2.1", priority=0), Member("192.0.2.2", priority=0))
    pool = compile_pool(
        Pool("a.test.", (*primary, Member("192.0.2.3", priority=5)), policy=Policy.FAILOVER)
    )
    seen = {addresses(pick(pool, client("192.0.2.99"), seed=s))[0] for s in range(40)}
    assert seen == {"192.0.2.1", "192.0.2.2"}  # within the tier: weighted
    assert addresses(pick(pool, client("192.0.2.99"), down("192.0.2.1"))) == ["192.0.2.2"]
    assert addresses(pick(pool, client("192.0.2.99"), down("192.0.2.1", "192.0.2.2"))) == [
        "192.0.2.3"
    ]


# -- ECS scope (RFC 7871 §7.2.1): how much of the client address decided -------------------


def test_scope_is_0_for_a_pool_whose_answer_ignores_the_client_rfc7871_s7_2_1() -> None:
    one_region = compile_pool(Pool("a.test.", (US,)))
    two_regions = compile_pool(Pool("a.test.", (US, EU), default_regions=("eu", "us")))
    for pool in (one_region, two_regions):
        assert pick(pool, client("81.2.69.0", 24)).scope_prefix == 0


def test_scope_is_the_matching_cidr_rules_prefix_rfc7871_s7_2_1() -> None:
    pool = compile_pool(
        Pool("a.test.", (US, EU), rules=(Rule(MatchKind.CIDR, "10.0.0.0/8", ("eu",)),))
    )
    selection = pick(pool, client("10.20.30.0", 24))
    assert (addresses(selection), selection.scope_prefix) == ([EU.address], 8)


def test_scope_grows_past_a_cidr_rule_the_client_did_not_match_rfc7871_s7_2_1() -> None:
    # rule 1.2.3.0/24; client 1.2.4.5 in a /16 geo network: /16 would cover the rule's
    # clients, who get another answer; 1.2.4.0/22 is the widest network that does not
    pool = compile_pool(
        Pool(
            "a.test.",
            (US, EU),
            rules=(
                Rule(MatchKind.CIDR, "1.2.3.0/24", ("eu",)),
                Rule(MatchKind.COUNTRY, "CN", ("eu",)),
            ),
            default_regions=("us",),
        )
    )  # fmt: skip
    who = Client(4, int(ipaddress.IPv4Address("1.2.4.5")), 32, Location("AU", "OC", None, None, 16))
    selection = pick(pool, who)
    assert (addresses(selection), selection.scope_prefix) == ([US.address], 22)
    rule = ipaddress.ip_network("1.2.3.0/24")
    assert not ipaddress.ip_network("1.2.4.0/22").overlaps(rule)
    assert ipaddress.ip_network("1.2.0.0/21").overlaps(rule)


def test_scope_is_the_geo_network_when_geo_rules_exist_but_none_matched(geo: GeoReader) -> None:
    pool = compile_pool(Pool("a.test.", (US, EU), rules=(Rule(MatchKind.COUNTRY, "CN", ("eu",)),)))
    assert pick(pool, client("89.160.20.112", 28, geo)).scope_prefix == 28  # SE, /28


def test_scope_never_exceeds_the_source_prefix_the_decision_used_rfc7871_7_2_1(
    geo: GeoReader,
) -> None:
    # an ECS /24 is decided at 89.160.20.0, whose database network is a /26: the answer
    # may claim the /24 it was decided for, never a /26 the client's own address is not in
    pool = compile_pool(Pool("a.test.", (US, EU), rules=(Rule(MatchKind.COUNTRY, "CN", ("eu",)),)))
    located = client("89.160.20.112", 24, geo)
    assert located.location is not None and located.location.prefix == 26
    assert pick(pool, located).scope_prefix == 24
    assert pick(pool, client("2001:218::", 56, geo)).scope_prefix == 32  # JP, IPv6 /32


@pytest.mark.parametrize(
    ("address", "prefix", "with_geo", "scope"),
    [
        ("81.2.69.142", 24, True, 24),  # ECS /24 inside a /31 geo network: key on the /24
        ("175.16.199.77", None, True, 24),  # query source /32: its /24
        ("10.1.2.3", None, True, 24),  # unknown to GeoIP (a huge empty block): still its /24
        ("10.1.2.0", 20, False, 20),  # ECS shorter than /24: the source prefix
        ("2001:218::1", None, True, 56),  # IPv6 source: its /56
    ],
    ids=["ecs-24", "source-32", "unknown-to-geo", "ecs-20", "ipv6-source"],
)
def test_sticky_key_and_scope_are_the_client_24_or_56_never_the_geo_block_rfc7871_s7_2_1(
    geo: GeoReader, address: str, prefix: int | None, with_geo: bool, scope: int
) -> None:
    pool = compile_pool(Pool("a.test.", members("x", 4), policy=Policy.STICKY))
    assert pick(pool, client(address, prefix, geo if with_geo else None)).scope_prefix == scope


# -- explain ------------------------------------------------------------------------------


def test_explain_says_why_location_rule_regions_exclusions_weights_and_scope(
    geo: GeoReader,
) -> None:
    eu_a, eu_b, eu_c = members("eu", 3)
    pool = compile_pool(
        Pool(
            "www.example.com.",
            (eu_a, eu_b, eu_c, Member("192.0.2.50", region="eu", enabled=False),
             Member("192.0.2.51", region="eu", weight=0), US, EU6),
            rules=(Rule(MatchKind.CONTINENT, "EU", ("eu", "us")),),
            min_healthy_fraction=0.5,
        )
    )  # fmt: skip
    who = client("89.160.20.112", 28, geo)
    health = down(eu_a.address, eu_b.address, reason="http 503")
    plain = select(pool, rdatatype.A, who, health, random.Random(4))
    explained = select(pool, rdatatype.A, who, health, random.Random(4), explain=True)
    assert plain.explanation is None
    assert (explained.members, explained.scope_prefix) == (plain.members, plain.scope_prefix)
    why = explained.explanation
    assert why is not None
    assert why.location == Location("SE", "EU", 58.4167, 15.6167, 28)
    assert why.rule == Rule(MatchKind.CONTINENT, "EU", ("eu", "us"))
    assert why.client == "89.160.20.112/28"
    assert [(r.region, r.outcome) for r in why.regions] == [
        ("eu", "down: 1 of 3 healthy, below min_healthy_fraction 0.5"),
        ("us", "answered"),
    ]
    assert {(e.address, e.reason) for e in why.excluded} == {
        (eu_a.address, "down: http 503"),
        (eu_b.address, "down: http 503"),
        (eu_c.address, "region below min_healthy_fraction"),
        ("192.0.2.50", "disabled"),
        ("192.0.2.51", "weight 0"),
        (EU6.address, "other address family"),
    }
    assert why.selected == (US.address,) and why.scope_prefix == 28 and not why.fail_open
    assert json.loads(json.dumps(why.to_dict()))["regions"][1]["members"] == [
        {"address": US.address, "configured_weight": 100, "effective_weight": 100,
         "priority": 0, "status": "selected"}
    ]  # fmt: skip


def test_explain_reports_fail_open_and_default_order() -> None:
    pool = compile_pool(Pool("a.test.", (US,), default_regions=("us",)))
    why = select(pool, rdatatype.A, client("192.0.2.99"), down(US.address), random.Random(1),
                 explain=True).explanation  # fmt: skip
    assert why is not None
    assert (why.rule, why.rule_reason, why.fail_open) == (None, "default order", True)
    assert [r.outcome for r in why.regions] == [
        "down: no usable member",
        "fail_open: every region down, answered ignoring health",
    ]
    assert why.to_dict()["selected"] == [US.address]


def test_explain_shows_configured_and_effective_weights_for_adaptive() -> None:
    pool = compile_pool(Pool("a.test.", members("x", 2), policy=Policy.ADAPTIVE))
    health = HealthView(effective_weights={"198.51.100.2": 0})
    why = select(pool, rdatatype.A, client("192.0.2.99"), health, random.Random(1),
                 explain=True).explanation  # fmt: skip
    assert why is not None
    assert [(m.address, m.configured_weight, m.effective_weight, m.status)
            for m in why.regions[0].members] == [
        ("198.51.100.1", 100, 100, "selected"),
        ("198.51.100.2", 100, 0, "effective weight 0"),
    ]  # fmt: skip
