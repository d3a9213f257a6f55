"""Where a redirect sends a client: the DNS path's selection, read as URLs."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from geodns.dns.zonefile import load_zone_dir
from geodns.geo import GeoReader, open_geo
from geodns.pools.model import HealthView, MatchKind, Member, Policy, Pool, Rule
from geodns.pools.select import Client, select
from geodns.redirect.decide import (
    Decision,
    Redirects,
    decide,
    explain,
    host_key,
    safe_target,
    split_target,
)
from geodns.snapshot import Snapshot, build_snapshot

DATA = Path(__file__).resolve().parents[2] / "data"
CITY = DATA / "maxmind" / "GeoIP2-City-Test.mmdb"
GB = "81.2.69.142"  # GB in MaxMind's test data: Europe
CN = "175.16.199.1"  # CN: Asia
NOWHERE = "192.0.2.200"  # not in the test database

US1 = Member("192.0.2.11", region="us", url="https://us1.example.test")
US2 = Member("192.0.2.12", region="us", url="https://us2.example.test/")
EU1 = Member("192.0.2.21", region="eu", url="https://eu1.example.test/mirror")
EU6 = Member("2001:db8::21", region="eu", url="https://eu1-v6.example.test")
POOL = Pool(
    name="www.example.test.",
    members=(US1, US2, EU1, EU6),
    rules=(Rule(MatchKind.CONTINENT, "EU", ("eu", "us")),),
    default_regions=("us", "eu"),
    max_answers=2,
)


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoReader]:
    reader = open_geo(str(CITY))
    assert reader is not None
    with reader:
        yield reader


def snapshot_of(pool: Pool, geo: GeoReader | None, down: dict[str, str] | None = None) -> Snapshot:
    zones = load_zone_dir(DATA / "serve").zones
    down = down or {}
    health = HealthView(frozenset(down), down)
    return build_snapshot(1, zones, [pool], health, geo)


def ask(
    snapshot: Snapshot, client: str, path: str = "/f.iso", seed: int = 1, host: str = POOL.name
) -> Decision:
    ip = ipaddress.ip_address(client)
    key = host_key(host)
    found = Redirects().find(snapshot, key) if key is not None else None
    return decide(found, host, ip.version, int(ip), path, snapshot, random.Random(seed))


def test_a_european_client_goes_to_the_eu_member_with_the_path_kept(geo: GeoReader) -> None:
    decision = ask(snapshot_of(POOL, geo), GB, "/dl/f.iso?mirror=1")
    # eu has one IPv4 member: the answer is that one alone, as DNS gives it
    assert decision == Decision(
        302, POOL.name, "https://eu1.example.test/mirror/dl/f.iso?mirror=1", "192.0.2.21"
    )


def test_the_other_members_drawn_are_alternates_and_base_slashes_do_not_double(
    geo: GeoReader,
) -> None:
    seen = set()
    for seed in range(20):
        decision = ask(snapshot_of(POOL, geo), NOWHERE, "/f.iso", seed=seed)
        links = {decision.location: decision.member, **dict(decision.alternates)}
        assert links == {
            "https://us1.example.test/f.iso": "192.0.2.11",
            "https://us2.example.test/f.iso": "192.0.2.12",
        }
        seen.add(decision.member)
    assert seen == {"192.0.2.11", "192.0.2.12"}  # weighted: either may come first


def test_an_ipv6_client_goes_to_a_member_of_its_own_family(geo: GeoReader) -> None:
    decision = ask(snapshot_of(POOL, geo), "2a02:cf40::1")  # GB in the test data
    assert (decision.status, decision.member) == (302, "2001:db8::21")
    assert decision.location == "https://eu1-v6.example.test/f.iso"


def test_a_client_of_a_family_the_pool_lacks_is_sent_to_the_other_family(
    geo: GeoReader,
) -> None:
    v4_only = replace(POOL, members=(US1, US2, EU1))
    decision = ask(snapshot_of(v4_only, geo), "2a02:cf40::1")
    assert (decision.status, decision.member) == (302, "192.0.2.21")


@pytest.mark.parametrize(
    "policy", [Policy.WEIGHTED, Policy.STICKY, Policy.FAILOVER, Policy.NEAREST, Policy.ADAPTIVE]
)
def test_the_redirect_is_dns_first_answer_for_the_same_client_and_random_state(
    geo: GeoReader, policy: Policy
) -> None:
    pool = replace(POOL, policy=policy, members=(US1, US2, EU1))
    snapshot = snapshot_of(pool, geo, {"192.0.2.12": "test"})
    compiled = snapshot.pools[next(iter(snapshot.pools))]
    for i, text in enumerate([GB, CN, NOWHERE, "89.160.20.112", "202.196.224.1"]):
        ip = ipaddress.ip_address(text)
        location = geo.locate(4, int(ip))
        dns = select(
            compiled, 1, Client(4, int(ip), 32, location), snapshot.health, random.Random(i)
        )
        decision = ask(snapshot, text, seed=i)
        assert decision.member == dns.members[0].member.address
        assert [a for _, a in decision.alternates] == [m.member.address for m in dns.members[1:]]


def test_sticky_keeps_a_slash_24_on_one_member_and_moves_only_a_failed_members_clients(
    geo: GeoReader,
) -> None:
    members = tuple(Member(f"192.0.2.{i}", url=f"https://m{i}.example.test") for i in range(1, 9))
    pool = Pool(name=POOL.name, members=members, policy=Policy.STICKY)
    healthy = snapshot_of(pool, geo)
    clients = [f"198.51.{n}.{h}" for n in range(40) for h in (1, 77, 254)]
    before = {c: ask(healthy, c, seed=s).member for s, c in enumerate(clients)}
    for n in range(40):  # a /24 is one member, whoever asks and whatever the random state
        assert len({before[f"198.51.{n}.{h}"] for h in (1, 77, 254)}) == 1
    failed = Counter(before.values()).most_common(1)[0][0]
    after_failure = snapshot_of(pool, geo, {failed: "down"})
    for client, member in before.items():
        now = ask(after_failure, client).member
        assert now == member if member != failed else now != failed


AS1 = Member("192.0.2.31", region="asia", url="https://as1.example.test")


@pytest.mark.parametrize(
    ("client", "member"),
    [
        ("198.51.100.7", "192.0.2.31"),  # the CIDR rule: not in the GeoIP data at all
        ("81.2.69.142", "192.0.2.21"),  # GB: the country rule beats Europe's continent rule
        ("89.160.20.112", "192.0.2.31"),  # SE: Europe's continent rule
        ("175.16.199.1", "192.0.2.11"),  # CN: no rule, the default order (us first)
    ],
    ids=["cidr", "country", "continent", "default"],
)
def test_cidr_country_and_continent_rules_apply_to_the_http_client_s_address(
    geo: GeoReader, client: str, member: str
) -> None:
    rules = (
        Rule(MatchKind.CIDR, "198.51.100.0/24", ("asia", "us")),
        Rule(MatchKind.COUNTRY, "GB", ("eu", "us")),
        Rule(MatchKind.CONTINENT, "EU", ("asia", "us")),
    )
    pool = replace(POOL, members=(US1, EU1, AS1), rules=rules, max_answers=1)
    decision = ask(snapshot_of(pool, geo), client)
    assert (decision.status, decision.member) == (302, member)


def test_a_region_below_its_healthy_fraction_sends_its_clients_to_the_next(
    geo: GeoReader,
) -> None:
    eu2 = Member("192.0.2.22", region="eu", url="https://eu2.example.test")
    pool = replace(POOL, members=(US1, US2, EU1, eu2), min_healthy_fraction=0.6)
    decision = ask(snapshot_of(pool, geo, {"192.0.2.22": "timeout"}), GB)
    assert decision.member in ("192.0.2.11", "192.0.2.12")  # eu is 1 of 2 up: down whole


def test_every_member_down_fails_open_or_is_a_503(geo: GeoReader) -> None:
    down = {m.address: "refused" for m in POOL.members}
    assert ask(snapshot_of(POOL, geo, down), GB).status == 302  # fail_open: a guess
    closed = replace(POOL, fail_open=False)
    assert ask(snapshot_of(closed, geo, down), GB) == Decision(
        503,
        POOL.name,
        reason=f"no member of pool {POOL.name} can take clients now (every one down or drained)",
    )
    drained = replace(POOL, members=tuple(replace(m, weight=0) for m in POOL.members))
    assert ask(snapshot_of(drained, geo), GB).status == 503


def test_unknown_hosts_and_pools_without_urls_are_404_saying_why(geo: GeoReader) -> None:
    assert ask(snapshot_of(POOL, geo), GB, host="nope.example.test") == Decision(
        404, "", reason="no pool nope.example.test is served here"
    )
    plain = replace(POOL, members=tuple(replace(m, url=None) for m in POOL.members))
    assert ask(snapshot_of(plain, geo), GB) == Decision(
        404,
        POOL.name,
        reason=f"pool {POOL.name} has no member URLs: give its members a url to redirect to them",
    )


def test_explain_gives_the_decision_and_select_s_trace(geo: GeoReader) -> None:
    snapshot = snapshot_of(POOL, geo, {"192.0.2.21": "http 500"})
    found = Redirects().find(snapshot, host_key(POOL.name) or b"")
    assert found is not None
    decision, why = explain(
        found, 4, int(ipaddress.ip_address(GB)), "/x", snapshot, random.Random(3)
    )
    assert decision.status == 302 and decision.member in ("192.0.2.11", "192.0.2.12")
    assert why is not None and why.rule is not None and why.rule.value == "EU"
    assert ("192.0.2.21", "down: http 500") in [(e.address, e.reason) for e in why.excluded]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.test", b"\x03www\x07example\x04test\x00"),
        ("WWW.Example.Test.:8080", b"\x03www\x07example\x04test\x00"),
        ("192.0.2.1:80", None),
        ("[2001:db8::1]:80", None),
        ("", None),
        ("a..b", None),
    ],
    ids=["name", "case-port-dot", "v4-literal", "v6-literal", "empty", "empty-label"],
)
def test_host_headers_name_pools_case_insensitively(host: str, expected: bytes | None) -> None:
    assert host_key(host) == expected


def test_the_pool_can_come_from_the_path_and_targets_are_made_safe() -> None:
    assert split_target("/www.example.test/dl/f.iso?x=1", True) == (
        "www.example.test",
        "/dl/f.iso?x=1",
    )
    assert split_target("/www.example.test?x=1", True) == ("www.example.test", "/?x=1")
    assert split_target("/www.example.test", True) == ("www.example.test", "/")
    assert split_target("/dl/f.iso", False) == (None, "/dl/f.iso")
    assert safe_target(b'/a b/\xc3\xa9?q="x"') == "/a%20b/%C3%A9?q=%22x%22"
    assert safe_target(b"/plain/path?a=1&b=%20") == "/plain/path?a=1&b=%20"
