"""Schema migrations: alembic driven from code (no alembic.ini), inside async code.

Control plane: does I/O. The scripts live in the top-level migrations/ directory of a
checkout; an installed geodns looks for them as geodns/migrations (package data) too.
Alembic is synchronous: it runs on the async connection through run_sync.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import geodns
from geodns.errors import ConfigError
from geodns.store.engine import StoreTimeouts, open_engine, safe_url, transaction
from geodns.store.tables import metadata

log = logging.getLogger(__name__)


class SchemaState(enum.Enum):
    EMPTY = "empty"  # no geodns tables: upgrade makes it current
    CURRENT = "current"  # at the code's head revision
    BEHIND = "behind"  # at an older revision this code knows: run geodns db upgrade
    UNKNOWN = "unknown"  # a revision this code does not know (newer geodns), or tables
    # without an alembic revision


def migrations_dir() -> Path:
    """The alembic scripts: <checkout>/migrations, else <package>/migrations; ConfigError."""
    package = Path(geodns.__file__).resolve().parent
    for candidate in (package.parent / "migrations", package / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigError(
        f"alembic migrations not found beside {package} (looked for migrations/env.py)"
    )


def alembic_config(url: str, script_location: Path | None = None) -> Config:
    """An alembic Config built in code: script location and URL, no ini file."""
    config = Config()
    config.set_main_option("script_location", str(script_location or migrations_dir()))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolation: a literal % in a URL (escaped password) must be doubled
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, *, script_location: Path | None = None) -> None:
    """Apply every migration up to head (alembic upgrade head); StoreUnavailable."""
    config = alembic_config(url, script_location)
    # a migration rewrites whole tables: no statement bound (connecting still has one)
    engine = open_engine(url, StoreTimeouts(statement_s=None))
    try:
        async with transaction(engine, write=True, what=f"migrate {safe_url(url)}") as conn:

            def run(sync_connection: Connection) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "head")

            await conn.run_sync(run)
    finally:
        await engine.dispose()
    log.info("database upgraded url=%s", safe_url(url))


async def schema_state(url: str, *, script_location: Path | None = None) -> SchemaState:
    """Where the database's schema stands against this code's migrations."""
    state, _, _ = await _read_state(url, script_location)
    return state


async def ensure_schema(url: str, *, script_location: Path | None = None) -> None:
    """Upgrade an empty database; ConfigError for one behind head or at an unknown revision."""
    state, current, heads = await _read_state(url, script_location)
    shown = safe_url(url)
    if state is SchemaState.EMPTY:
        log.info("database is empty, creating the schema url=%s", shown)
        await upgrade(url, script_location=script_location)
    elif state is SchemaState.BEHIND:
        raise ConfigError(
            f"database {shown} is at migration {_revisions(current)}, behind this geodns "
            f"({_revisions(heads)}): run: geodns db upgrade --database {shown}"
        )
    elif state is SchemaState.UNKNOWN:
        if current:
            reason = f"is at migration {_revisions(current)}, which this geodns does not know"
            fix = "run the geodns version that migrated it (or newer)"
        else:
            reason = "has geodns tables but no alembic revision"
            fix = "point geodns at an empty database or one created by geodns db upgrade"
        raise ConfigError(f"database {shown} {reason} (expected {_revisions(heads)}): {fix}")


async def _read_state(
    url: str, script_location: Path | None
) -> tuple[SchemaState, tuple[str, ...], tuple[str, ...]]:
    scripts = ScriptDirectory.from_config(alembic_config(url, script_location))
    heads = tuple(scripts.get_heads())
    engine = open_engine(url)
    try:
        async with transaction(engine, write=False, what=f"schema {safe_url(url)}") as conn:

            def read(sync_connection: Connection) -> tuple[tuple[str, ...], bool]:
                current = MigrationContext.configure(sync_connection).get_current_heads()
                present = set(inspect(sync_connection).get_table_names())
                return tuple(current), bool(present & set(metadata.tables))

            current, has_tables = await conn.run_sync(read)
    finally:
        await engine.dispose()
    if not current:
        return (SchemaState.UNKNOWN if has_tables else SchemaState.EMPTY), current, heads
    if set(current) == set(heads):
        return SchemaState.CURRENT, current, heads
    known = {script.revision for script in scripts.walk_revisions()}
    if all(revision in known for revision in current):
        return SchemaState.BEHIND, current, heads
    return SchemaState.UNKNOWN, current, heads


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "none"
