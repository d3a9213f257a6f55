"""Generated queries over the test zones and pools, and the snapshot they are asked of:
what the cache, native-engine and differential tests send to both data planes."""

from __future__ import annotations

import random
from pathlib import Path

import dns.edns
import dns.flags
import dns.message

from geodns.answer.context import Transport
from geodns.dns.zonefile import load_zone_dir
from geodns.geo import open_geo
from geodns.pools.model import HealthView, Member, Policy, Pool
from geodns.pools_file import load_pools_file
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot

DATA = Path(__file__).resolve().parent / "data"
NAMES = [
    "example.test.",
    "www.example.test.",
    "alias.example.test.",
    "mail.example.test.",
    "x.wild.example.test.",
    "a.b.child.example.test.",
    "big.example.test.",
    "nope.example.test.",
    "geo.example.test.",
    "sticky.example.test.",
    "shares.example.test.",
    "open.example.test.",
    "closed.example.test.",
    "failover.example.test.",
    "c.ent.example.test.",
    "www.other.test.",
    "near.example.test.",
    "rotate.example.test.",
    "adapt.example.test.",
    "example.org.",
    "_sip._tcp.example.test.",
    "chain1.example.test.",
    "loop1.example.test.",
]
QTYPES = ["A", "AAAA", "TXT", "MX", "NS", "SOA", "ANY", "SRV", "CNAME", "TYPE666", "DS"]
NETWORKS = [
    "2.2.3.0/24",
    "175.16.199.0/24",
    "202.196.224.0/24",
    "214.78.120.0/24",
    "10.1.2.0/24",
    "0.0.0.0/0",
    "2001:218::/56",
    "81.2.69.142/32",
    "1.2.3.0/20",
]
SOURCES = ["127.0.0.1", "2.2.3.4", "175.16.199.7", "::1", "2001:218::5"]


# the policies the shared pools file lacks: nearest (with member coordinates), round
# robin over both families, adaptive with effective weights
MORE_POOLS = [
    Pool(
        "near.example.test.",
        (
            Member("192.0.2.201", region="eu", latitude=51.5, longitude=-0.1),
            Member("192.0.2.202", region="ap", latitude=35.7, longitude=139.7),
            Member("192.0.2.203", region="us", latitude=38.9, longitude=-77.0),
            Member("2001:db8::201", region="eu", latitude=51.5, longitude=-0.1),
        ),
        policy=Policy.NEAREST,
        max_answers=2,
    ),
    Pool(
        "rotate.example.test.",
        tuple(Member(f"192.0.2.21{i}") for i in range(4))
        + tuple(Member(f"2001:db8::21{i}") for i in range(3)),
        policy=Policy.ROUND_ROBIN,
        max_answers=2,
    ),
    Pool(
        "adapt.example.test.",
        tuple(Member(f"192.0.2.22{i}", weight=100) for i in range(4)),
        policy=Policy.ADAPTIVE,
        max_answers=2,
    ),
]
EFFECTIVE_WEIGHTS = {"192.0.2.220": 20, "192.0.2.221": 100, "192.0.2.222": 0}


def make_holder(down: frozenset[str] = frozenset()) -> SnapshotHolder:
    zones = load_zone_dir(DATA / "serve").zones
    pools = list(load_pools_file(DATA / "pools" / "example.test.yaml")) + MORE_POOLS
    geo = open_geo(str(DATA / "maxmind" / "GeoIP2-City-Test.mmdb"))
    holder = SnapshotHolder(empty_snapshot())
    health = HealthView(down, effective_weights=EFFECTIVE_WEIGHTS)
    holder.publish(build_snapshot(1, zones, pools, health, geo))
    return holder


def random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in name)


def generated_queries(count: int, seed: int) -> list[tuple[bytes, str, Transport]]:
    rng = random.Random(seed)
    queries: list[tuple[bytes, str, Transport]] = []
    while len(queries) < count:
        if queries and rng.random() < 0.4:  # repeats are what the cache is for
            queries.append(rng.choice(queries))
            continue
        name = rng.choice(NAMES) if rng.random() < 0.9 else f"r{rng.randrange(10**6)}.example.test."
        if rng.random() < 0.2:
            name = random_case(name, rng)
        options = []
        if rng.random() < 0.5:
            address, prefix = rng.choice(NETWORKS).split("/")
            options.append(dns.edns.ECSOption(address, int(prefix)))
        use_edns = 0 if options or rng.random() < 0.5 else False
        message = dns.message.make_query(
            name,
            rng.choice(QTYPES),
            use_edns=use_edns,
            options=options,
            want_dnssec=use_edns is not False and rng.random() < 0.3,
            payload=rng.choice([512, 1232, 4096]),
        )
        if rng.random() < 0.2:
            message.flags &= ~dns.flags.RD
        message.id = rng.randrange(65536)
        transport = Transport.TCP if rng.random() < 0.2 else Transport.UDP
        queries.append((message.to_wire(), rng.choice(SOURCES), transport))
    return queries


def query_wire(name: str, rdtype: str = "A", ecs: str | None = None) -> bytes:
    options = []
    if ecs is not None:
        address, prefix = ecs.split("/")
        options.append(dns.edns.ECSOption(address, int(prefix)))
    return dns.message.make_query(
        name, rdtype, use_edns=0 if options else False, options=options
    ).to_wire()
