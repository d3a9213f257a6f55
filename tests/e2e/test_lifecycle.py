"""Start-up, limits and operator commands of the real process: what an operator meets first."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from harness import (
    DATA,
    ROOT,
    SERVE_ZONES,
    clean_environ,
    drain_member,
    geodns_command,
    loopback_args,
)

from geodns.store.migrate import alembic_config
from geodns.store.repository import Store

pytestmark = pytest.mark.e2e


def test_serve_refuses_a_database_behind_the_code_and_says_what_to_run(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"

    async def migrate_to_first_revision() -> None:
        from geodns.store.engine import open_engine

        engine = open_engine(url)
        async with engine.begin() as connection:
            config = alembic_config(url)

            def upgrade(sync_connection: object) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "0001")

            await connection.run_sync(upgrade)
        await engine.dispose()

    asyncio.run(migrate_to_first_revision())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "geodns",
            "serve",
            *loopback_args(str(SERVE_ZONES), url, api="off"),
            "--no-geoip",
        ],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "geodns db upgrade --database" in result.stderr
    upgraded = geodns_command("db", "upgrade", "--database", url)
    assert upgraded.returncode == 0, upgraded.stderr


def test_pools_apply_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'db'}"
    pools = str(DATA / "pools" / "example.test.yaml")
    dry = geodns_command(
        "pools", "apply", pools, "--dry-run", "--database", url, "--zones", str(SERVE_ZONES)
    )
    assert dry.returncode == 0, dry.stderr
    assert "+ create geo.example.test." in dry.stdout
    exported = geodns_command("pools", "export", "--database", url)
    assert exported.stdout.strip() == "pools: []"
    applied = geodns_command(
        "pools", "apply", pools, "--database", url, "--zones", str(SERVE_ZONES)
    )
    assert "+ create geo.example.test." in applied.stdout
    again = geodns_command("pools", "apply", pools, "--database", url, "--zones", str(SERVE_ZONES))
    assert again.stdout.strip() == "no changes"  # idempotent
    assert "name: geo.example.test." in geodns_command("pools", "export", "--database", url).stdout


def test_pools_apply_refuses_a_pool_outside_the_served_zones_naming_file_and_field(tmp_path):
    bad = tmp_path / "pools.yaml"
    bad.write_text(
        "pools:\n  - name: www.elsewhere.test\n    members:\n      - {address: 192.0.2.1}\n"
    )
    result = geodns_command(
        "pools",
        "apply",
        str(bad),
        "--database",
        f"sqlite+aiosqlite:///{tmp_path / 'db'}",
        "--zones",
        str(SERVE_ZONES),
    )
    assert result.returncode == 1
    assert f"{bad}: pools[0].name" in result.stderr
    assert "not inside a served zone" in result.stderr


STATIC_POOL = (
    "pools:\n  - name: mail.example.test\n{flag}    members:\n      - {{address: 192.0.2.9}}\n"
)


def apply_static_pool(
    tmp_path: Path, flag: str
) -> tuple[Path, str, subprocess.CompletedProcess[str]]:
    """`pools apply` of STATIC_POOL (a pool over mail.example.test's static A/AAAA) with
    flag's line, on a new SQLite database: the file, the database URL, the command's result."""
    pools = tmp_path / "pools.yaml"
    pools.write_text(STATIC_POOL.format(flag=flag))
    url = f"sqlite+aiosqlite:///{tmp_path / 'db'}"
    result = geodns_command(
        "pools", "apply", str(pools), "--database", url, "--zones", str(SERVE_ZONES)
    )
    return pools, url, result


@pytest.mark.parametrize("flag", ["", "    replace_static: false\n"], ids=["absent", "false"])
def test_pools_apply_refuses_a_pool_over_static_a_aaaa_as_the_api_does(tmp_path, flag):
    """The zone file answers mail.example.test with A and AAAA: a new pool there would
    answer instead of them, silently. Refused, with the API's message, file and field."""
    pools, url, result = apply_static_pool(tmp_path, flag)
    assert result.returncode == 1, result.stdout
    assert f"{pools}: pools[0].name" in result.stderr
    assert (
        "mail.example.test. has static A and AAAA records in "
        f"{SERVE_ZONES / 'example.test.zone'}: the pool would answer instead of them; "
        'send "replace_static": true to mean that, or pick another name'
    ) in result.stderr.replace("\n", " ")
    exported = geodns_command("pools", "export", "--database", url)
    assert exported.stdout.strip() == "pools: []"  # nothing written


def test_pools_apply_with_replace_static_true_creates_it_and_stores_no_flag(tmp_path):
    pools, url, result = apply_static_pool(tmp_path, "    replace_static: true\n")
    assert result.returncode == 0, result.stderr
    assert "+ create mail.example.test." in result.stdout
    exported = geodns_command("pools", "export", "--database", url).stdout
    assert "name: mail.example.test." in exported and "replace_static" not in exported
    again = geodns_command(
        "pools", "apply", str(pools), "--database", url, "--zones", str(SERVE_ZONES)
    )
    assert again.stdout.strip() == "no changes"  # the flag is about creating, not a field


def test_pools_apply_refuses_a_replace_static_that_is_not_true_or_false(tmp_path):
    pools, url, result = apply_static_pool(tmp_path, "    replace_static: yes please\n")
    assert result.returncode == 1
    assert f"{pools}:3: pools[0].replace_static" in result.stderr
    assert "must be true or false, got 'yes please'" in result.stderr


def test_docker_compose_file_is_valid():
    binary = shutil.which("docker-compose")
    assert binary, (
        "docker-compose is needed: apt-get install docker-compose (./run test installs it)"
    )
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_pools_apply_if_new_seeds_a_new_database_once_and_never_undoes_later_changes(
    empty_database_url,
):
    url = empty_database_url
    pools = str(DATA / "pools" / "example.test.yaml")
    seed = ("pools", "apply", "--if-new", pools, "--database", url, "--zones", str(SERVE_ZONES))
    first = geodns_command(*seed)
    assert first.returncode == 0, first.stderr
    assert "+ create geo.example.test." in first.stdout
    # the operator deletes one pool and drains a member, as through the API
    drain_member(url, "open.example.test.", "192.0.2.141")

    async def delete_geo() -> None:
        store = await Store.open(url)
        try:
            await store.delete_pool("geo.example.test.")
        finally:
            await store.close()

    asyncio.run(delete_geo())
    exported = geodns_command("pools", "export", "--database", url).stdout
    again = geodns_command(*seed)  # the next start
    assert again.returncode == 0, again.stderr
    assert re.fullmatch(
        rf"{re.escape(pools)} not applied: the database has changes already \(generation "
        r"\d+\); --if-new seeds a new database only\n",
        again.stdout,
    ), again.stdout
    assert geodns_command("pools", "export", "--database", url).stdout == exported
    assert "name: geo.example.test." not in exported
    assert "weight: 0" in exported
