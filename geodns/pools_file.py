"""`geodns pools apply` and `export`: make the store's pools match a YAML file, or print them.

Control plane: reads files and the database. Plan first, then apply, in one
transaction per pool; --dry-run stops after the plan.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from geodns.dns.zonefile import load_zone_dir
from geodns.errors import Problem, ValidationError
from geodns.pools.model import to_document
from geodns.pools.plan import plan
from geodns.pools.validate import check_pool_in_zones, parse_pools_file
from geodns.settings import Settings
from geodns.store.migrate import ensure_schema
from geodns.store.repository import Store


async def apply_file(
    settings: Settings, path: Path, *, dry_run: bool = False, if_new: bool = False
) -> tuple[list[str], bool]:
    """Apply path to the store; returns the plan's lines and whether anything changed.

    if_new: only into a database nothing was ever changed in (generation 0), so that a
    start that seeds the example pools never re-applies them over an operator's changes.
    """
    if if_new:
        generation = await stored_generation(settings)
        if generation != 0:
            return [
                f"{path} not applied: the database has changes already (generation "
                f"{generation}); --if-new seeds a new database only"
            ], False
    desired = parse_pools_file(path)
    origins = [zone.origin_text for zone in load_zone_dir(settings.zones).zones.values()]
    problems: list[Problem] = []
    for index, pool in enumerate(desired):
        for problem in check_pool_in_zones(pool, origins):
            problems.append(Problem(f"{path}: pools[{index}].{problem.where}", problem.message))
    if problems:
        raise ValidationError(f"pools file {path}", problems)
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        current = await store.list_pools()
        changes = plan(current, desired)
        lines = changes.describe() or ["no changes"]
        if dry_run or changes.empty:
            return lines, False
        for pool in changes.create:
            await store.create_pool(pool)
        for update in changes.update:
            await store.replace_pool(update.desired)
        for pool in changes.delete:
            await store.delete_pool(pool.name)
        return lines, True
    finally:
        await store.close()


async def stored_generation(settings: Settings) -> int:
    """The store's change counter (0: nothing was ever changed), migrating a new database."""
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        return await store.generation()
    finally:
        await store.close()


async def export_yaml(settings: Settings) -> str:
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        pools = await store.list_pools()
    finally:
        await store.close()
    document = {"pools": [to_document(pool) for pool in pools]}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None)
