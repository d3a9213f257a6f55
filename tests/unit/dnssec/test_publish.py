"""The signing part of snapshot builds: keys at the apex, signing ahead within a budget,
signatures kept while nothing changes, and a new epoch each week or key change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from signed_world import ORIGIN, World, key_set, new_key

from geodns.dns import names, rdatatype
from geodns.dnssec.rrsig import WEEK_S
from geodns.pools.model import Member, Pool

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
KEY = new_key()
WEIGHTED = (names.from_text("weighted.signed.test."), rdatatype.A)


def test_the_apex_serves_the_keys_of_a_signed_zone_and_the_files_of_an_unsigned_one():
    world = World({ORIGIN: key_set([KEY])})
    apex = world.build(NOW).zones[ORIGIN].apex.rrsets
    assert apex[rdatatype.DNSKEY].rdatas == (KEY.public.rdata,)
    assert apex[rdatatype.CDS].rdatas == (KEY.public.ds_rdata(ORIGIN),)
    assert apex[rdatatype.CDNSKEY].rdatas == (KEY.public.rdata,)
    world.builder.set_signing({})
    snapshot = world.build(NOW)
    assert rdatatype.DNSKEY not in snapshot.zones[ORIGIN].apex.rrsets
    assert snapshot.signed == {}


def test_a_build_signs_ahead_within_its_budget_and_precompute_does_the_rest():
    world = World({ORIGIN: key_set([KEY])})
    signing = world.builder.signing
    signing.build_budget = 5
    tables = world.build(NOW).signed[ORIGIN].pools.values()
    assert signing.pending
    assert signing.cache.misses + sum(len(t.by_mask) for t in tables) == 5
    made = 0
    while signing.pending:
        made += signing.precompute(50)
    assert made > 30  # the zone's RRsets and the small pools' drawable sets
    table = world.build(NOW).signed[ORIGIN].pools[WEIGHTED]
    assert len(table.by_mask) == 10


def test_an_unchanged_rebuild_signs_nothing_again():
    world = World({ORIGIN: key_set([KEY])})
    first = world.build(NOW)
    while world.builder.signing.pending:
        world.builder.signing.precompute(1000)
    misses = world.builder.signing.cache.misses
    second = world.build(NOW + 60, down=frozenset({"192.0.2.11"}))  # a health change
    assert world.builder.signing.cache.misses == misses
    assert second.signed[ORIGIN] is first.signed[ORIGIN]


def test_a_changed_pool_gets_a_new_table_and_the_others_keep_theirs():
    world = World({ORIGIN: key_set([KEY])})
    before = world.build(NOW).signed[ORIGIN]
    rotate = before.pools[(names.from_text("rotate.signed.test."), rdatatype.A)]
    world.builder.apply([Pool("weighted.signed.test.", (Member("192.0.2.19"),))])
    after = world.build(NOW).signed[ORIGIN]
    new_table = after.pools[WEIGHTED]
    assert len(new_table.by_mask) == 1 and new_table.pool.members[0].member.address == "192.0.2.19"
    assert after.pools[(names.from_text("rotate.signed.test."), rdatatype.A)] is rotate


@pytest.mark.parametrize("later", [WEEK_S, 0], ids=["next-week", "new-keys"])
def test_a_new_week_or_new_keys_start_a_new_epoch(later):
    world = World({ORIGIN: key_set([KEY])})
    first = world.build(NOW).signed[ORIGIN]
    if not later:
        world.builder.set_signing({ORIGIN: key_set([new_key()])})
    second = world.build(NOW + later).signed[ORIGIN]
    assert second is not first and second.pools is not first.pools


def test_records_a_zone_file_must_not_bring_are_named(tmp_path, caplog):
    zone = tmp_path / "signed.test.zone"
    zone.write_text(
        "$ORIGIN signed.test.\n$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
        "ns RRSIG A 13 3 300 20300101000000 20200101000000 1 signed.test. AAAA\n"
    )
    from geodns.dns.zonefile import load_zone_dir
    from geodns.snapshot import SnapshotBuilder

    builder = SnapshotBuilder()
    builder.set_zones(load_zone_dir(tmp_path).zones)
    builder.set_signing({ORIGIN: key_set([KEY])})
    with caplog.at_level("WARNING"):
        builder.build(1, World(None).build(NOW).health, None, now_s=NOW)
    assert "zone file records not signed in a signed zone zone=signed.test. types=RRSIG" in (
        caplog.text
    )
