"""A signed test world: tests/data/dnssec's zones, a pool of every policy, keys, snapshots.

Shared by the unit tests of the signed answer path and the end-to-end DNSSEC tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness import MAXMIND

from geodns.dns import names
from geodns.dns.zonefile import load_zone_dir
from geodns.dnssec.keys import Algorithm, SigningKey, generate_private_key, load_signing_key
from geodns.dnssec.publish import ZoneKeySet
from geodns.dnssec.signer import ZoneKeys
from geodns.geo import open_geo
from geodns.pools.model import HealthView, MatchKind, Member, Policy, Pool, Rule
from geodns.snapshot import Snapshot, SnapshotBuilder

ZONES = Path(__file__).resolve().parent / "data" / "dnssec"
ORIGIN = names.from_text("signed.test.")
GEO_DB = MAXMIND / "GeoIP2-City-Test.mmdb"


def v4(*last: int) -> tuple[Member, ...]:
    return tuple(Member(f"192.0.2.{n}") for n in last)


POOLS: tuple[Pool, ...] = (
    Pool(
        "weighted.signed.test.",
        v4(11, 12, 13, 14) + (Member("2001:db8::11"), Member("2001:db8::12", weight=50)),
        max_answers=2,
    ),
    Pool(
        "nearest.signed.test.",
        (
            Member("192.0.2.21", region="eu", latitude=51.5, longitude=-0.1),
            Member("192.0.2.22", region="ap", latitude=35.7, longitude=139.7),
            Member("192.0.2.23", region="us", latitude=38.9, longitude=-77.0),
        ),
        policy=Policy.NEAREST,
        max_answers=2,
    ),
    Pool("sticky.signed.test.", v4(31, 32, 33), policy=Policy.STICKY),
    Pool("rotate.signed.test.", v4(41, 42, 43, 44), policy=Policy.ROUND_ROBIN, max_answers=2),
    Pool(
        "failover.signed.test.",
        (Member("192.0.2.51", priority=0), Member("192.0.2.52", priority=1)),
        policy=Policy.FAILOVER,
    ),
    Pool("adaptive.signed.test.", v4(61, 62, 63), policy=Policy.ADAPTIVE, max_answers=2),
    Pool("closed.signed.test.", v4(71, 72), fail_open=False),
    Pool(
        "geo.signed.test.",
        (Member("192.0.2.81", region="eu"), Member("192.0.2.82", region="us")),
        rules=(
            Rule(MatchKind.COUNTRY, "GB", ("eu", "us")),
            Rule(MatchKind.CONTINENT, "NA", ("us", "eu")),
        ),
        default_regions=("us", "eu"),
    ),
    # 40 members, 3 answers: 10,660 drawable sets, too many to sign ahead
    Pool(
        "many.signed.test.", tuple(Member(f"198.51.100.{n}") for n in range(1, 41)), max_answers=3
    ),
)
CLOSED_DOWN = frozenset({"192.0.2.71", "192.0.2.72"})
POLICY_POOLS = [p.name for p in POOLS if p.name not in ("closed.signed.test.",)]


def new_key(algorithm: Algorithm = Algorithm.ECDSAP256SHA256) -> SigningKey:
    return load_signing_key(algorithm, generate_private_key(algorithm))


def key_set(
    signing: Sequence[SigningKey],
    dnskey_only: Sequence[SigningKey] = (),
    *,
    unavailable: str | None = None,
) -> ZoneKeySet:
    published = tuple(k.public for k in (*dnskey_only, *signing))
    keys = ZoneKeys(tuple(signing), tuple(dnskey_only), (*dnskey_only, *signing), tuple(signing))
    return ZoneKeySet(
        ORIGIN,
        published,
        tuple(k.public for k in signing),
        3600,
        None if unavailable else keys,
        unavailable,
    )


class World:
    """A SnapshotBuilder over the signed world; build() makes the next snapshot."""

    def __init__(self, keys: Mapping[bytes, ZoneKeySet] | None, *, geo: bool = True) -> None:
        self.builder = SnapshotBuilder()
        self.builder.set_zones(load_zone_dir(ZONES).zones)
        self.builder.apply(POOLS)
        if keys is not None:
            self.builder.set_signing(keys)
        self.geo = open_geo(str(GEO_DB)) if geo else None
        self.generation = 0

    def build(self, now_s: float, down: frozenset[str] = CLOSED_DOWN, **weights: int) -> Snapshot:
        self.generation += 1
        health = HealthView(down, effective_weights={"192.0.2.61": 20} | weights)
        return self.builder.build(self.generation, health, self.geo, now_s=now_s)
