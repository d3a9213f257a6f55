"""Store.load_changes on real SQLite and PostgreSQL: what changed after a generation, read in
one transaction; tombstones for deletes and their horizon; and a SnapshotPublisher that
applies the changes serving what a full load serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from databases import WithStore
from harness import SERVE_ZONES
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from geodns.dns import names
from geodns.pools.model import AddressHealth, HealthView, Member, Pool
from geodns.publisher import SnapshotPublisher
from geodns.settings import Settings
from geodns.snapshot import Snapshot, build_snapshot
from geodns.store import tables
from geodns.store.changes import TOMBSTONE_KEEP, Changes
from geodns.store.migrate import alembic_config, upgrade
from geodns.store.repository import Store, open_engine


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


T = TypeVar("T")
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def pool(name: str, last_octet: int = 1, weight: int = 100) -> Pool:
    return Pool(name=name, members=(Member(f"192.0.2.{last_octet}", weight),))


def test_changes_since_a_generation_are_the_pools_created_changed_and_deleted_after_it(
    with_store: WithStore,
) -> None:
    async def check(store: Store) -> None:
        for name in ("a.example.test.", "b.example.test.", "c.example.test."):
            await store.create_pool(pool(name))
        since = await store.generation()
        assert await store.load_changes(since) == Changes(since, False)
        await store.replace_pool(pool("b.example.test.", 2))
        await store.delete_pool("c.example.test.")
        await store.create_pool(pool("d.example.test.", 4))
        await store.upsert_member("a.example.test.", Member("192.0.2.9", 50))
        changes = await store.load_changes(since)
        assert changes.generation == since + 4 == await store.generation()
        assert not changes.complete
        assert {p.name: p for p in changes.pools_changed} == {
            "a.example.test.": Pool(
                "a.example.test.", (Member("192.0.2.1"), Member("192.0.2.9", 50))
            ),
            "b.example.test.": pool("b.example.test.", 2),
            "d.example.test.": pool("d.example.test.", 4),
        }
        assert changes.pools_deleted == ("c.example.test.",)
        assert changes.health == {}
        later = await store.load_changes(since + 2)  # after the delete: only d and a
        assert sorted(p.name for p in later.pools_changed) == ["a.example.test.", "d.example.test."]
        assert later.pools_deleted == ()

    with_store(check)


def test_a_name_deleted_and_created_again_is_a_change_not_a_delete(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(pool("a.example.test."))
        since = await store.generation()
        await store.delete_pool("a.example.test.")
        await store.create_pool(pool("a.example.test.", 7))
        changes = await store.load_changes(since)
        assert changes.pools_changed == (pool("a.example.test.", 7),)
        assert changes.pools_deleted == ()
        await store.create_pool(pool("brief.example.test."))
        await store.delete_pool("brief.example.test.")
        # created and deleted after since: a delete of something the reader never had
        assert (await store.load_changes(since)).pools_deleted == ("brief.example.test.",)

    with_store(check)


def test_changes_without_a_usable_generation_are_everything(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.create_pool(pool("a.example.test."))
        await store.set_address_health("192.0.2.1", True, "refused", {"p": True}, T0)
        await store.set_address_health("192.0.2.2", False, "ok", {"p": False}, T0)
        generation = await store.generation()
        everything = {
            "192.0.2.1": AddressHealth(True, "refused"),
            "192.0.2.2": AddressHealth(False, "ok"),
        }
        for since in (-1, generation + 1):  # first load; a database behind the reader
            changes = await store.load_changes(since)
            assert changes.complete and changes.generation == generation
            assert changes.pools_changed == (pool("a.example.test."),)
            assert changes.pools_deleted == ()
            assert changes.health == everything
        state = await store.load_state()
        assert (state.generation, state.pools, state.health) == (
            generation,
            changes.pools_changed,
            everything,
        )

    with_store(check)


def test_health_changes_are_the_addresses_whose_served_state_moved(with_store: WithStore) -> None:
    async def check(store: Store) -> None:
        await store.set_address_health("192.0.2.1", True, "refused", {"p": True}, T0)
        await store.set_address_health("192.0.2.2", True, "refused", {"p": True}, T0)
        since = await store.generation()
        await store.set_address_health("192.0.2.1", False, "ok", {"p": False}, T0)
        # the votes alone: neither the generation nor the changes move
        await store.set_address_health("192.0.2.2", True, "refused", {"p": True, "q": True}, T0)
        changes = await store.load_changes(since)
        assert changes.generation == since + 1
        assert changes.health == {"192.0.2.1": AddressHealth(False, "ok")}
        assert changes.pools_changed == () and not changes.complete

    with_store(check)


def test_tombstones_older_than_the_horizon_make_changes_complete(database_url: str) -> None:
    now = [T0]

    async def body() -> None:
        store = await Store.open(database_url, clock=lambda: now[0])
        try:
            for name in ("old.example.test.", "new.example.test.", "kept.example.test."):
                await store.create_pool(pool(name))
            before_old = await store.generation()
            await store.delete_pool("old.example.test.")
            between = await store.generation()
            now[0] = T0 + TOMBSTONE_KEEP + timedelta(seconds=1)
            await store.delete_pool("new.example.test.")  # prunes old's tombstone
            assert (await store.load_changes(before_old)).complete
            changes = await store.load_changes(between)
            assert not changes.complete
            assert changes.pools_deleted == ("new.example.test.",)
            engine = open_engine(database_url)
            try:
                async with engine.connect() as conn:
                    rows = await conn.execute(select(tables.pool_tombstones.c.name))
                    assert [r.name for r in rows] == ["new.example.test."]
            finally:
                await engine.dispose()
        finally:
            await store.close()

    run(body())


def test_changes_are_read_in_one_transaction_while_writers_commit(database_url: str) -> None:
    """Every read's pools agree with its generation: each write created one pool."""

    async def body() -> None:
        writer, reader = await Store.open(database_url), await Store.open(database_url)
        try:
            base = await reader.generation()
            done = asyncio.Event()

            async def write() -> None:
                for i in range(60):
                    await writer.create_pool(pool(f"n{i}.example.test."))
                done.set()

            task = asyncio.create_task(write())
            reads = 0
            while not done.is_set() or reads < 5:
                for since in (-1, base, base + 10):
                    changes = await reader.load_changes(since)
                    if changes.complete:
                        assert len(changes.pools_changed) == changes.generation - base
                    else:
                        expected = max(0, changes.generation - since)
                        assert len(changes.pools_changed) == expected, (since, changes.generation)
                reads += 1
                await asyncio.sleep(0)
            await task
        finally:
            await writer.close()
            await reader.close()

    run(body())


def test_rows_from_before_the_migration_count_as_changed_at_generation_0(
    empty_database_url: str,
) -> None:
    config = alembic_config(empty_database_url)

    async def migrate_to(revision: str) -> None:
        engine = open_engine(empty_database_url)
        try:
            async with engine.begin() as conn:

                def go(connection: Connection) -> None:
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)

                await conn.run_sync(go)
        finally:
            await engine.dispose()

    async def body() -> None:
        await migrate_to("0002")
        engine = open_engine(empty_database_url)
        try:
            async with engine.begin() as conn:  # columns of 0002 only
                await conn.execute(tables.generation.update().values(value=5))
                pool_id = (
                    await conn.execute(
                        insert(tables.pools)
                        .values(
                            name="old.example.test.",
                            ttl=30,
                            policy="weighted",
                            max_answers=1,
                            min_healthy_fraction=0.0,
                            fail_open=True,
                            version=1,
                            created_at=T0,
                            updated_at=T0,
                        )
                        .returning(tables.pools.c.id)
                    )
                ).scalar_one()
                await conn.execute(
                    insert(tables.members).values(
                        pool_id=pool_id,
                        position=0,
                        address="192.0.2.1",
                        weight=100,
                        region="default",
                        priority=0,
                        enabled=True,
                    )
                )
        finally:
            await engine.dispose()
        await upgrade(empty_database_url)
        store = await Store.open(empty_database_url)
        try:
            assert (await store.load_changes(-1)).pools_changed == (pool("old.example.test."),)
            assert (await store.load_changes(0)).pools_changed == ()  # it was loaded whole
            await store.create_pool(pool("new.example.test."))
            assert (await store.load_changes(5)).pools_changed == (pool("new.example.test."),)
        finally:
            await store.close()

    run(body())


# -- the SnapshotPublisher on top ----------------------------------------------------------


def served(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "pools": {key: compiled.pool for key, compiled in snapshot.pools.items()},
        "nodes": {o: sorted(z.nodes) for o, z in snapshot.zones.items()},
        "down": snapshot.health.down,
        "reasons": snapshot.health.reasons,
        "problems": sorted(snapshot.problems),
        "store_generation": snapshot.store_generation,
    }


def test_a_publisher_applying_changes_serves_what_a_full_load_serves(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        dns=(("127.0.0.1", 0),),
        zones=SERVE_ZONES,
        api=None,
        database_url=database_url,
        geoip_bundled=False,
    )

    async def body() -> None:
        publisher = SnapshotPublisher(settings.zones)
        publisher.load_zones()
        store = await Store.open(database_url)
        publisher.follow(store)
        try:
            for i in range(20):
                await store.create_pool(pool(f"p{i}.example.test.", i + 1))
            await store.create_pool(pool("alias.example.test."))  # a CNAME: not served
            await publisher.refresh()
            first = publisher.holder.current
            await store.replace_pool(pool("p1.example.test.", 99))
            await store.delete_pool("p2.example.test.")
            await store.create_pool(pool("x.y.example.test.", 50))
            await store.set_address_health("192.0.2.4", True, "refused", {"p": True}, T0)
            await publisher.refresh()
            after = publisher.holder.current
            state = await store.load_state()
            zones = dict(publisher.zones)
            reference = build_snapshot(
                1,
                zones,
                state.pools,
                HealthView(frozenset({"192.0.2.4"}), {"192.0.2.4": "refused"}),
                None,
                store_generation=state.generation,
            )
            assert served(after) == served(reference)
            key = names.from_text("p5.example.test.")
            assert after.pools[key] is first.pools[key]  # unchanged: not compiled again
            assert sorted(p.name for p in publisher.pools) == sorted(p.name for p in state.pools)
            await store.set_address_health("192.0.2.4", False, "ok", {"p": False}, T0)
            await publisher.refresh()
            assert publisher.holder.current.health.down == frozenset()
            assert publisher.holder.current.pools is after.pools  # health only: shared
        finally:
            await store.close()

    run(body())
