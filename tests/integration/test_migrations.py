"""Alembic migrations on real SQLite and PostgreSQL: models match, schema states, refusals."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, text
from sqlalchemy.engine import Connection

import geodns
from geodns.errors import ConfigError
from geodns.store.migrate import (
    SchemaState,
    alembic_config,
    ensure_schema,
    migrations_dir,
    schema_state,
    upgrade,
)
from geodns.store.repository import Store, open_engine, safe_url
from geodns.store.tables import metadata

HEAD = ScriptDirectory(str(migrations_dir())).get_current_head()

LATER_REVISION = '''"""a later migration this test invents"""

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


@pytest.fixture
def newer_migrations(tmp_path: Path) -> Path:
    """A copy of migrations/ with one more (empty) revision: what a newer geodns ships."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9999_later.py").write_text(LATER_REVISION.format(head=HEAD))
    return copy


async def _on_connection(url: str, work: Any) -> Any:
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _differences(target: MetaData, url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target))

    return list(asyncio.run(_on_connection(url, compare)))


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert _differences(metadata, database_url) == []
    # and the comparison does see a difference when there is one
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["pools"].append_column(Column("extra", Integer, nullable=True))
    assert [diff[0] for diff in _differences(changed, database_url)] == ["add_column"]


def test_ensure_schema_creates_an_empty_database(empty_database_url: str) -> None:
    assert asyncio.run(schema_state(empty_database_url)) is SchemaState.EMPTY
    asyncio.run(ensure_schema(empty_database_url))
    assert asyncio.run(schema_state(empty_database_url)) is SchemaState.CURRENT
    asyncio.run(ensure_schema(empty_database_url))  # current: nothing to do

    async def generation() -> int:
        store = await Store.open(empty_database_url)
        try:
            return await store.generation()
        finally:
            await store.close()

    assert asyncio.run(generation()) == 0


def test_ensure_schema_refuses_a_database_behind_head(
    database_url: str, newer_migrations: Path
) -> None:
    state = asyncio.run(schema_state(database_url, script_location=newer_migrations))
    assert state is SchemaState.BEHIND
    with pytest.raises(ConfigError) as refused:
        asyncio.run(ensure_schema(database_url, script_location=newer_migrations))
    assert str(refused.value) == (
        f"database {safe_url(database_url)} is at migration {HEAD}, behind this geodns (9999): "
        f"run: geodns db upgrade --database {safe_url(database_url)}"
    )
    asyncio.run(upgrade(database_url, script_location=newer_migrations))
    state = asyncio.run(schema_state(database_url, script_location=newer_migrations))
    assert state is SchemaState.CURRENT


def test_ensure_schema_refuses_a_revision_it_does_not_know(
    empty_database_url: str, newer_migrations: Path
) -> None:
    asyncio.run(upgrade(empty_database_url, script_location=newer_migrations))
    assert asyncio.run(schema_state(empty_database_url)) is SchemaState.UNKNOWN
    with pytest.raises(ConfigError, match="is at migration 9999, which this geodns does not know"):
        asyncio.run(ensure_schema(empty_database_url))


def test_ensure_schema_refuses_geodns_tables_without_a_revision(empty_database_url: str) -> None:
    def create(connection: Connection) -> None:
        connection.execute(text("CREATE TABLE pools (id INTEGER PRIMARY KEY)"))

    asyncio.run(_on_connection(empty_database_url, create))
    assert asyncio.run(schema_state(empty_database_url)) is SchemaState.UNKNOWN
    with pytest.raises(ConfigError, match="has geodns tables but no alembic revision"):
        asyncio.run(ensure_schema(empty_database_url))


def test_downgrade_to_base_removes_every_table(database_url: str) -> None:
    config = alembic_config(database_url)

    def downgrade(connection: Connection) -> list[str]:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return sorted(
            name
            for name in connection.dialect.get_table_names(connection)
            if name != "alembic_version"
        )

    assert asyncio.run(_on_connection(database_url, downgrade)) == []
    assert asyncio.run(schema_state(database_url)) is SchemaState.EMPTY


def test_migrations_are_found_beside_the_package() -> None:
    checkout = Path(geodns.__file__).resolve().parent.parent
    assert migrations_dir() == checkout / "migrations"
    assert (migrations_dir() / "versions" / "0001_initial.py").is_file()


def test_safe_url_hides_the_password() -> None:
    shown = safe_url("postgresql+asyncpg://geodns:s3cret@db.internal:5432/geodns")
    assert shown == "postgresql+asyncpg://geodns:***@db.internal:5432/geodns"
