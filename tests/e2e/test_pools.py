"""Pools answered by the real server: GeoIP and ECS routing, scope, health, policies (issue 3)."""

from __future__ import annotations

import asyncio
import collections
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from harness import (
    DATA,
    MAXMIND,
    SERVE_ZONES,
    GeodnsProcess,
    apply_pools,
    loopback_args,
    start_geodns,
)
from polling import within

from geodns.store.repository import Store

pytestmark = pytest.mark.e2e
POOLS_FILE = DATA / "pools" / "example.test.yaml"


def set_health(database: str, address: str, down: bool) -> None:
    async def write() -> None:
        store = await Store.open(database)
        try:
            await store.set_address_health(
                address,
                down,
                "marked by the test" if down else "",
                {"test": down},
                datetime.now(UTC),
            )
        finally:
            await store.close()

    asyncio.run(write())


class PoolServer:
    def __init__(self, server: GeodnsProcess, database: str, workdir: Path) -> None:
        self.server, self.database, self.workdir = server, database, workdir

    def ask(
        self, qname: str, rdtype: str = "A", ecs: str | None = None, tcp: bool = False
    ) -> dns.message.Message:
        options = []
        if ecs is not None:
            address, prefix = ecs.split("/")
            options.append(dns.edns.ECSOption(address, int(prefix)))
        query = dns.message.make_query(qname, rdtype, use_edns=0, options=options)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(query, self.server.host, port=self.server.port, timeout=2)

    def addresses(self, qname: str, rdtype: str = "A", ecs: str | None = None) -> set[str]:
        reply = self.ask(qname, rdtype, ecs)
        return {r.to_text() for rrset in reply.answer for r in rrset}

    def wait_for(
        self, qname: str, expected: set[str], ecs: str | None = None, timeout: float = 1.0
    ) -> float:
        """Seconds until the answer became expected; fails after timeout (the 1 s promise)."""
        return within(
            timeout,
            lambda: self.addresses(qname, ecs=ecs) == expected,
            f"{qname} never answered {expected}",
        )


def ecs_scope(reply: dns.message.Message) -> tuple[int, int] | None:
    for option in reply.options:
        if isinstance(option, dns.edns.ECSOption):
            return option.srclen, option.scopelen
    return None


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory, data_plane: str) -> Iterator[PoolServer]:
    workdir = tmp_path_factory.mktemp("pools")
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    apply_pools(database, zones, POOLS_FILE)
    server = start_geodns(
        [
            *loopback_args(zones, database, api="off"),
            "--geoip-db",
            str(MAXMIND / "GeoIP2-City-Test.mmdb"),
            "--poll-interval-s",
            "0.1",
            "--data-plane",
            data_plane,
        ]
    )
    yield PoolServer(server, database, workdir)
    server.stop()


@pytest.mark.parametrize(
    ("ecs", "expected", "scope"),
    [
        ("2.2.3.0/24", {"192.0.2.21", "192.0.2.22"}, 24),  # GB: continent EU -> eu
        ("175.16.199.0/24", {"192.0.2.31", "192.0.2.32"}, 24),  # CN: continent AS -> ap
        ("202.196.224.0/24", {"192.0.2.11", "192.0.2.12"}, 20),  # PH: the country rule beats AS
        ("214.78.120.0/24", {"192.0.2.11", "192.0.2.12"}, 22),  # US: no rule, default order
        ("10.20.30.0/24", {"192.0.2.21", "192.0.2.22"}, 8),  # the CIDR rule beats geography
    ],
    ids=["gb-eu", "cn-as", "ph-country-rule", "us-default", "cidr-rule"],
)
def test_ecs_client_gets_its_regions_answer_with_the_deciding_scope_rfc7871_7_2_1(
    pools, ecs, expected, scope
):
    reply = pools.ask("geo.example.test.", ecs=ecs)
    assert reply.rcode() == dns.rcode.NOERROR
    assert {r.to_text() for r in reply.answer[0]} == expected
    assert reply.answer[0].ttl == 30
    source = int(ecs.split("/")[1])
    assert ecs_scope(reply) == (source, scope)  # same source prefix back, scope = deciding prefix


def test_ecs_ipv6_client_routes_by_its_own_network_rfc7871_6(pools):
    reply = pools.ask("geo.example.test.", "A", ecs="2001:218::/56")  # JP, continent AS
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.31", "192.0.2.32"}
    assert ecs_scope(reply) == (56, 32)


def test_ecs_source_prefix_over_the_cap_is_used_only_to_the_cap_rfc7871_11_1(pools):
    reply = pools.ask("geo.example.test.", ecs="2.2.3.77/32")
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.21", "192.0.2.22"}
    assert ecs_scope(reply) == (32, 24)  # source echoed as sent; decided at /24


def test_ecs_host_address_is_decided_and_scoped_on_its_capped_24_rfc7871_7_2_1(pools):
    # issue 10 item 6: 81.2.69.142 is GB in the GeoIP test data, its /24's first address
    # 81.2.69.0 is in no network; the decision is made on the /24, so the answer is the
    # default order's, and its SCOPE may claim no more than that /24 (not the /31 or /25
    # the uncapped host address would have been looked up in)
    host = pools.ask("geo.example.test.", ecs="81.2.69.142/32")
    net = pools.ask("geo.example.test.", ecs="81.2.69.0/24")
    assert {r.to_text() for r in host.answer[0]} == {"192.0.2.11", "192.0.2.12"}  # not eu
    assert {r.to_text() for r in net.answer[0]} == {"192.0.2.11", "192.0.2.12"}
    scope = ecs_scope(host)
    assert scope is not None and scope[0] == 32 and scope[1] <= 24, scope
    assert ecs_scope(net) == (24, scope[1])


def test_ecs_source_prefix_zero_means_no_client_information_rfc7871_7_1_2(pools):
    reply = pools.ask("geo.example.test.", ecs="0.0.0.0/0")
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.11", "192.0.2.12"}  # default order
    assert ecs_scope(reply) == (0, 0)


def test_aaaa_comes_from_the_ipv6_members_of_the_chosen_region(pools):
    assert pools.addresses("geo.example.test.", "AAAA", ecs="2.2.3.0/24") == {"2001:db8::21"}
    # ap has no IPv6 member: the next region in the client's list (us) answers
    assert pools.addresses("geo.example.test.", "AAAA", ecs="175.16.199.0/24") == {"2001:db8::11"}


def test_pool_without_members_of_the_family_answers_nodata_with_soa_rfc2308_2_2(pools):
    reply = pools.ask("shares.example.test.", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer == []
    [soa] = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.ttl == 300


def test_a_pool_name_owns_a_and_aaaa_other_types_come_from_the_zone_file(pools):
    assert pools.addresses("www.example.test.", "A") == {"192.0.2.191"}  # the pool, not the zone
    aaaa = pools.ask("www.example.test.", "AAAA")  # v4-only pool: the zone's AAAA is shadowed
    assert aaaa.rcode() == dns.rcode.NOERROR and aaaa.answer == []
    assert pools.addresses("www.example.test.", "TXT") == {'"static data beside a pool"'}


def test_static_and_negative_answers_carry_scope_zero_rfc7871_7_2_1(pools):
    for qname, rcode in (
        ("mail.example.test.", dns.rcode.NOERROR),
        ("absent.example.test.", dns.rcode.NXDOMAIN),
    ):
        reply = pools.ask(qname, ecs="2.2.3.0/24")
        assert reply.rcode() == rcode
        assert ecs_scope(reply) == (24, 0)


def test_single_region_pool_without_rules_does_not_depend_on_the_client(pools):
    reply = pools.ask("open.example.test.", ecs="2.2.3.0/24")
    assert ecs_scope(reply) == (24, 0)


def test_query_without_ecs_is_routed_by_source_and_gets_no_ecs_back(pools):
    reply = pools.ask("geo.example.test.")  # 127.0.0.1 is in no network: default order
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.11", "192.0.2.12"}
    assert ecs_scope(reply) is None


def test_tcp_gets_the_same_pool_answer(pools):
    reply = pools.ask("geo.example.test.", ecs="175.16.199.0/24", tcp=True)
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.31", "192.0.2.32"}


def test_members_marked_down_leave_answers_within_a_second_and_the_region_falls_back(pools):
    eu = "2.2.3.0/24"
    try:
        set_health(pools.database, "192.0.2.21", True)
        pools.wait_for("geo.example.test.", {"192.0.2.22"}, ecs=eu)
        set_health(pools.database, "192.0.2.22", True)
        pools.wait_for("geo.example.test.", {"192.0.2.11", "192.0.2.12"}, ecs=eu)  # eu -> us
    finally:
        set_health(pools.database, "192.0.2.21", False)
        set_health(pools.database, "192.0.2.22", False)
    pools.wait_for("geo.example.test.", {"192.0.2.21", "192.0.2.22"}, ecs=eu)


def test_region_below_min_healthy_fraction_counts_as_down_whole(pools):
    try:
        set_health(pools.database, "192.0.2.121", True)  # eu is 1/2 healthy, below 0.6
        pools.wait_for("guarded.example.test.", {"192.0.2.111"})
    finally:
        set_health(pools.database, "192.0.2.121", False)
    pools.wait_for("guarded.example.test.", {"192.0.2.121", "192.0.2.122"})


def test_every_member_down_fails_open_by_default(pools):
    try:
        for address in ("192.0.2.141", "192.0.2.142"):
            set_health(pools.database, address, True)
        set_health(pools.database, "192.0.2.131", True)
        # fail_open false: NODATA with the SOA, so resolvers cache the negative answer briefly
        within(1.0, lambda: not pools.ask("closed.example.test.").answer, "closed still answers")
        closed = pools.ask("closed.example.test.")
        assert closed.rcode() == dns.rcode.NOERROR and closed.answer == []
        assert closed.authority[0].rdtype == dns.rdatatype.SOA
        # fail_open true: answered anyway, ignoring health
        assert pools.addresses("open.example.test.") <= {"192.0.2.141", "192.0.2.142"}
        assert pools.addresses("open.example.test.")
    finally:
        for address in ("192.0.2.141", "192.0.2.142", "192.0.2.131"):
            set_health(pools.database, address, False)


def test_failover_uses_the_backup_only_while_the_primary_is_down(pools):
    assert pools.addresses("failover.example.test.") == {"192.0.2.171"}
    try:
        set_health(pools.database, "192.0.2.171", True)
        pools.wait_for("failover.example.test.", {"192.0.2.181"})
    finally:
        set_health(pools.database, "192.0.2.171", False)
    pools.wait_for("failover.example.test.", {"192.0.2.171"})


def test_sticky_gives_a_subnet_the_same_member_every_time(pools):
    seen_by_subnet = {}
    for third in range(40):
        subnet = f"10.9.{third}.0/24"
        answers = {frozenset(pools.addresses("sticky.example.test.", ecs=subnet)) for _ in range(5)}
        assert len(answers) == 1, subnet  # stable for the subnet
        seen_by_subnet[subnet] = next(iter(answers))
    assert len(set(seen_by_subnet.values())) >= 3  # and spread over the members
    reply = pools.ask("sticky.example.test.", ecs="10.9.1.0/24")
    assert ecs_scope(reply) == (24, 24)  # the answer depends on the whole /24


def test_weighted_shares_follow_the_weights_over_real_queries(pools):
    counts: collections.Counter[str] = collections.Counter()
    for _ in range(2000):
        counts.update(pools.addresses("shares.example.test."))
    share = counts["192.0.2.161"] / 2000
    assert abs(share - 0.75) < 0.04  # 300:100; the 1-point bound over 100k draws is a unit test


def test_malformed_ecs_gets_formerr_rfc7871_7_1_1(pools):
    query = dns.message.make_query(
        "geo.example.test.",
        "A",
        use_edns=0,
        options=[dns.edns.GenericOption(8, b"\x00\x01\x18\x00\x02\x02\x03\x04")],
    )
    reply = dns.query.udp(query, pools.server.host, port=pools.server.port, timeout=2)
    assert reply.rcode() == dns.rcode.FORMERR  # /24 with four address bytes


@pytest.mark.slow
def test_zone_reload_that_orphans_a_pool_keeps_it_and_serves_it_again_later(tmp_path):
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    apply_pools(database, zones, POOLS_FILE)
    server = start_geodns(
        [
            *loopback_args(zones, database, api="off"),
            "--no-geoip",
        ]
    )
    try:
        zone = zones / "example.test.zone"
        saved = zone.read_bytes()
        zone.unlink()
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log(r"pool www\.example\.test\. is in no served zone: not served")
        assert server.query("www.example.test.", "A").rcode() == dns.rcode.REFUSED
        zone.write_bytes(saved)
        server.process.send_signal(signal.SIGHUP)
        within(5, lambda: server.query("www.example.test.", "A").rcode() == dns.rcode.NOERROR)
        reply = server.query("www.example.test.", "A")
        assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.191"}
    finally:
        server.stop()
