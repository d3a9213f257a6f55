"""Many pools into a database at once, for the scale test and bench/scale.py.

Writes the store's tables directly in multi-row INSERTs, one transaction, as a
migration or a restore would: the Store's one-pool-at-a-time API would take minutes for
100k pools. Rows are built by the store's own pool_values and
member_values, so what it writes is what Store.create_pool writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert, update

from geodns.pools.model import Pool
from geodns.store import tables
from geodns.store.engine import open_engine
from geodns.store.pool_rows import member_values, pool_values

CHUNK = 5000  # pools per INSERT: a few statements, bounded memory


async def bulk_insert(url: str, pools: Iterable[Pool], *, analyze: bool = False) -> None:
    """pools (ids 1, 2, ...) into a migrated, empty database; one generation step.

    analyze: ANALYZE PostgreSQL afterwards, as autovacuum would within a minute or so
    (without statistics the planner has no index for a range read).
    """
    now = datetime.now(UTC)
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            numbered = enumerate(pools, 1)
            while chunk := list(itertools.islice(numbered, CHUNK)):
                await conn.execute(
                    insert(tables.pools),
                    [
                        {"id": i, **pool_values(p), "version": 1, "created_at": now}
                        | {"updated_at": now}
                        for i, p in chunk
                    ],
                )
                members = [
                    {"pool_id": i, "position": k, **member_values(m)}
                    for i, p in chunk
                    for k, m in enumerate(p.members)
                ]
                if members:
                    await conn.execute(insert(tables.members), members)
                rules = [
                    {
                        "pool_id": i,
                        "position": k,
                        "kind": r.kind.value,
                        "value": r.value,
                        "regions": list(r.regions),
                    }
                    for i, p in chunk
                    for k, r in enumerate(p.rules)
                ]
                if rules:
                    await conn.execute(insert(tables.rules), rules)
            generation = tables.generation
            await conn.execute(update(generation).values(value=generation.c.value + 1))
            if conn.dialect.name == "postgresql":  # the ids were given: move the sequence on
                await conn.exec_driver_sql(
                    "SELECT setval('pools_id_seq', (SELECT max(id) FROM pools))"
                )
        if analyze and engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
