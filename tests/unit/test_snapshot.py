"""SnapshotBuilder: a snapshot updated change by change serves exactly what one built from
nothing on the same pools serves, and a published snapshot never changes afterwards.

The test zones have every shape a pool name can meet: a static name (www), a CNAME
(alias: refused), a delegation (child: refused at and below it), a wildcard (*.wild),
static empty non-terminals (c.ent), a second zone, and names in no zone.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodns.answer.context import Transport
from geodns.answer.packet import PacketAnswerer
from geodns.dns import names
from geodns.dns.zone import Zone
from geodns.dns.zonefile import load_zone_dir
from geodns.pools.model import HealthView, Member, Pool
from geodns.pools_file import load_pools_file
from geodns.snapshot import Snapshot, SnapshotBuilder, SnapshotHolder, build_snapshot

DATA = Path(__file__).resolve().parents[1] / "data"
ZONES = load_zone_dir(DATA / "serve").zones
ONLY_EXAMPLE = {
    origin: zone for origin, zone in ZONES.items() if zone.origin_text == "example.test."
}

POOL_NAMES = [
    "p1.example.test.",
    "p2.example.test.",
    "y.example.test.",
    "x.y.example.test.",
    "z.y.example.test.",
    "a.b.y.example.test.",
    "q.wild.example.test.",
    "a.b.q.wild.example.test.",
    "n.c.ent.example.test.",
    "www.example.test.",
    "example.test.",
    "alias.example.test.",
    "child.example.test.",
    "a.child.example.test.",
    "pool.other.test.",
    "deep.pool.other.test.",
    "www.nowhere.test.",
]
PROBES = sorted(
    {
        name
        for pool in POOL_NAMES
        for name in (pool, f"zz.{pool}", *(pool.split(".", k)[-1] for k in range(1, 5)))
        if name.endswith(".") and len(name) > 1
    }
    | {
        "b.y.example.test.",
        "k.q.wild.example.test.",
        "b.q.wild.example.test.",
        "real.wild.example.test.",
        "c.ent.example.test.",
        "ent.example.test.",
        "nothing.example.test.",
        "mail.example.test.",
    }
)
QTYPES = ["A", "AAAA", "TXT"]


def pool(name: str, variant: int) -> Pool:
    members = tuple(Member(f"192.0.2.{10 * variant + i}", 100 + i, f"r{i % 2}") for i in range(3))
    return Pool(name, members, max_answers=1 + variant % 2)


def query(name: str, qtype: str, qid: int = 7) -> bytes:
    import dns.message

    message = dns.message.make_query(name, qtype)
    message.id = qid
    return bytes(message.to_wire())


def served(snapshot: Snapshot, *, replies: bool = True) -> dict[str, Any]:
    """Everything a query can see of a snapshot, as plain values (replies: and the reply
    bytes to A, AAAA and TXT queries for every probe name)."""
    holder = SnapshotHolder(snapshot)
    answers = {}
    for name in PROBES if replies else ():
        for qtype in QTYPES:
            answerer = PacketAnswerer(holder, random.Random(0))
            answers[(name, qtype)] = answerer(query(name, qtype), "192.0.2.200", Transport.UDP)
    lookups = {}
    for origin, zone in snapshot.zones.items():
        for name in PROBES:
            key = names.from_text(name)
            if names.is_subdomain(key, origin):
                found = zone.lookup(key, 1)
                lookups[name] = (found.found, found.node.name if found.node else None)
    return {
        "pools": {key: compiled.pool for key, compiled in snapshot.pools.items()},
        "nodes": {origin: _nodes(zone) for origin, zone in snapshot.zones.items()},
        "lookups": lookups,
        "answers": answers,
        "problems": sorted(snapshot.problems),
        "source_pools": sorted(p.name for p in snapshot.source_pools),
    }


def _nodes(zone: Zone) -> dict[bytes, dict[int, Any]]:
    return {name: dict(node.rrsets) for name, node in zone.nodes.items()}


def full(zones: dict[bytes, Zone], pools: dict[str, Pool]) -> Snapshot:
    return build_snapshot(1, zones, pools.values(), HealthView(), None)


Op = tuple[str, str, int]  # ("put", name, variant) | ("delete", name, 0) | ("zones", "", 0|1)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(POOL_NAMES), st.integers(0, 2)),
        st.tuples(st.just("delete"), st.sampled_from(POOL_NAMES), st.just(0)),
        st.tuples(st.just("zones"), st.just(""), st.integers(0, 1)),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(steps=ops, build_every=st.integers(1, 5))
def test_incremental_snapshot_serves_what_a_full_build_of_the_same_pools_serves(
    steps: list[Op], build_every: int
) -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    zones: dict[bytes, Zone] = dict(ZONES)
    pools: dict[str, Pool] = {}
    published: list[tuple[Snapshot, dict[str, Any]]] = []
    for step, (kind, name, variant) in enumerate(steps):
        if kind == "put":
            pools[name] = pool(name, variant)
            builder.apply([pools[name]])
        elif kind == "delete":
            pools.pop(name, None)
            builder.apply([], [name])
        else:
            zones = dict(ZONES if variant == 0 else ONLY_EXAMPLE)
            builder.set_zones(zones)
        if step % build_every == 0:
            snapshot = builder.build(step + 1, HealthView(), None)
            published.append((snapshot, served(snapshot, replies=False)))
    final = builder.build(len(steps) + 1, HealthView(), None)
    assert served(final) == served(full(zones, pools))
    for snapshot, seen in published:  # what was published stays as it was
        assert served(snapshot, replies=False) == seen


def test_a_pool_name_and_its_ancestors_exist_while_a_pool_needs_them_rfc4592_s2_2_2() -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool("a.b.y.example.test.", 0), pool("z.y.example.test.", 0)])
    both = builder.build(1, HealthView(), None)
    builder.apply([], ["a.b.y.example.test."])
    one = builder.build(2, HealthView(), None)
    builder.apply([], ["z.y.example.test."])
    none = builder.build(3, HealthView(), None)
    [zone_both], [zone_one], [zone_none] = (
        [z for z in s.zones.values() if z.origin_text == "example.test."] for s in (both, one, none)
    )
    y, b_y = names.from_text("y.example.test."), names.from_text("b.y.example.test.")
    assert y in zone_both.nodes and b_y in zone_both.nodes  # empty non-terminals: NODATA
    assert y in zone_one.nodes and b_y not in zone_one.nodes  # z.y still needs y
    assert y not in zone_none.nodes  # NXDOMAIN again
    assert zone_none.nodes.keys() == ZONES[zone_none.origin].nodes.keys()


def test_a_pool_at_a_static_name_leaves_the_static_records_when_deleted() -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool("www.example.test.", 0), pool("n.c.ent.example.test.", 0)])
    builder.build(1, HealthView(), None)
    builder.apply([], ["www.example.test.", "n.c.ent.example.test."])
    after = builder.build(2, HealthView(), None)
    for origin, zone in after.zones.items():
        assert _nodes(zone) == _nodes(ZONES[origin])


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (
            "alias.example.test.",
            "pool alias.example.test.: the zone file has a CNAME at this "
            "name (RFC 1034 §3.6.2): not served",
        ),
        (
            "a.child.example.test.",
            "pool a.child.example.test.: below the delegation child.example.test.: not served",
        ),
        ("www.nowhere.test.", "pool www.nowhere.test. is in no served zone: not served"),
    ],
    ids=["cname", "below-cut", "no-zone"],
)
def test_a_pool_that_cannot_be_served_is_named_in_problems_until_it_is_gone(
    name: str, problem: str
) -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool(name, 0)])
    refused = builder.build(1, HealthView(), None)
    assert refused.problems == (problem,)
    assert names.from_text(name) not in refused.pools
    assert [p.name for p in refused.source_pools] == [name]  # kept: the database has it
    builder.apply([], [name])
    assert builder.build(2, HealthView(), None).problems == ()


def test_a_zone_reload_serves_a_pool_its_zone_was_missing_for() -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ONLY_EXAMPLE)
    builder.apply([pool("pool.other.test.", 0)])
    assert builder.build(1, HealthView(), None).problems
    builder.set_zones(ZONES)
    after = builder.build(2, HealthView(), None)
    assert after.problems == ()
    assert names.from_text("pool.other.test.") in after.pools


def test_an_unchanged_pool_is_not_compiled_again_and_health_only_builds_share_everything() -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool("p1.example.test.", 0), pool("p2.example.test.", 0)])
    first = builder.build(1, HealthView(), None)
    builder.apply([pool("p1.example.test.", 0), pool("p2.example.test.", 1)])  # p1 equal
    second = builder.build(2, HealthView(), None)
    p1, p2 = names.from_text("p1.example.test."), names.from_text("p2.example.test.")
    assert second.pools[p1] is first.pools[p1]
    assert second.pools[p2] is not first.pools[p2]
    assert second.pools is not first.pools  # a new dict: first is still what it was
    third = builder.build(3, HealthView(frozenset({"192.0.2.10"})), None)
    assert third.pools is second.pools
    assert all(third.zones[o] is second.zones[o] for o in third.zones)


def test_replace_keeps_exactly_the_given_pools() -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool(name, 0) for name in POOL_NAMES])
    kept = {name: pool(name, 1 if name.startswith("p") else 0) for name in POOL_NAMES[::3]}
    builder.replace(kept.values())
    assert served(builder.build(2, HealthView(), None)) == served(full(dict(ZONES), kept))


def test_a_pool_that_does_not_compile_is_a_problem_not_a_failed_build() -> None:
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool("p1.example.test.", 0), pool("p2.example.test.", 0)])
    builder.build(1, HealthView(), None)
    broken = Pool("p2.example.test.", (Member("192.0.2.300"),))
    builder.apply([broken, Pool("p3.example.test.", (Member("not an address"),))])
    after = builder.build(2, HealthView(), None)
    assert sorted(after.problems) == [
        "pool p2.example.test.: '192.0.2.300' does not appear to be an IPv4 or IPv6 address: "
        "not served",
        "pool p3.example.test.: 'not an address' does not appear to be an IPv4 or IPv6 "
        "address: not served",
    ]
    assert [names.to_text(key) for key in after.pools] == ["p1.example.test."]
    assert served(after) == served(
        full(
            dict(ZONES),
            {
                "p1.example.test.": pool("p1.example.test.", 0),
                "p2.example.test.": broken,
                "p3.example.test.": Pool("p3.example.test.", (Member("not an address"),)),
            },
        )
    )
    builder.apply([pool("p2.example.test.", 1)])
    assert names.from_text("p2.example.test.") in builder.build(3, HealthView(), None).pools


def test_snapshots_have_no_reference_cycles_so_frozen_ones_are_still_freed() -> None:
    """SnapshotPublisher freezes a big full load out of the cycle collector's sight: what it built
    must be freed by reference counts alone once a later snapshot replaces it."""
    pools = load_pools_file(DATA / "pools" / "example.test.yaml")  # every policy
    gc.collect()
    gc.disable()
    try:
        builder = SnapshotBuilder()
        builder.set_zones(ZONES)
        builder.apply(pools)
        snapshot = builder.build(1, HealthView(), None)
        builder.apply([], [p.name for p in pools])
        builder.build(2, HealthView(), None)
        del snapshot, builder
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_pools_are_compiled_on_first_use_and_keep_their_compiled_form_while_unchanged() -> None:
    """A server with 100k pools starts without compiling any (issue 11 §5): building places
    names; the first query for a pool compiles it, once, for every later snapshot too."""
    builder = SnapshotBuilder()
    builder.set_zones(ZONES)
    builder.apply([pool("p1.example.test.", 0), pool("p2.example.test.", 0)])
    first = builder.build(1, HealthView(), None)
    key1, key2 = names.from_text("p1.example.test."), names.from_text("p2.example.test.")
    assert sorted(first.pools) == sorted([key1, key2])
    assert builder._compiled == {}  # placed, not compiled
    compiled = first.pools.get(key1)
    assert compiled is not None and compiled is first.pools.get(key1)
    assert list(builder._compiled) == [key1]
    second = builder.build(2, HealthView(frozenset({"192.0.2.1"})), None)  # health only
    assert second.pools.get(key1) is compiled
    builder.apply([pool("p1.example.test.", 1)])
    third = builder.build(3, HealthView(), None)
    changed = third.pools.get(key1)
    assert changed is not None and changed is not compiled
    assert changed.pool == pool("p1.example.test.", 1)
    assert first.pools.get(key1) is not None  # an old snapshot still answers from its own pool
    assert first.pools.get(key1).pool == pool("p1.example.test.", 0)
