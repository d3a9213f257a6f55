"""initial schema: pools, members, rules, health, generation

Revision ID: 0001
Revises:
Create Date: 2026-05-09 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they were at this revision (not imported from geodns).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("max_answers", sa.Integer(), nullable=False),
        sa.Column("min_healthy_fraction", sa.Float(), nullable=False),
        sa.Column("fail_open", sa.Boolean(), nullable=False),
        sa.Column("default_regions", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("check", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pools"),
        sa.UniqueConstraint("name", name="uq_pools_name"),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name="fk_members_pool_id_pools", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.UniqueConstraint("pool_id", "address", name="uq_members_pool_id_address"),
        sa.UniqueConstraint("pool_id", "position", name="uq_members_pool_id_position"),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name="fk_rules_pool_id_pools", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rules"),
        sa.UniqueConstraint("pool_id", "position", name="uq_rules_pool_id_position"),
    )
    op.create_table(
        "health_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("probe", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reported_at", UTC_DATETIME, nullable=False),
        sa.Column("ttl_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_health_reports"),
        sa.UniqueConstraint("probe", "address", name="uq_health_reports_probe_address"),
    )
    op.create_index("ix_health_reports_address", "health_reports", ["address"])
    op.create_table(
        "address_health",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("down", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("probes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("address", name="pk_address_health"),
    )
    op.create_table(
        "health_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("down", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("votes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_health_transitions"),
    )
    op.create_index("ix_health_transitions_address_at", "health_transitions", ["address", "at"])
    generation = op.create_table(
        "generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_generation"),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("generation")
    op.drop_index("ix_health_transitions_address_at", table_name="health_transitions")
    op.drop_table("health_transitions")
    op.drop_table("address_health")
    op.drop_index("ix_health_reports_address", table_name="health_reports")
    op.drop_table("health_reports")
    op.drop_table("rules")
    op.drop_table("members")
    op.drop_table("pools")
