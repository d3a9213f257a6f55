"""change generations and pool tombstones: nodes read only what changed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00

Rows that exist already get changed_generation 0: every node loads everything when it
starts, so none needs to read them as changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they were at this revision (not imported from geodns).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in ("pools", "address_health"):
        op.add_column(
            table,
            sa.Column("changed_generation", sa.BigInteger(), server_default="0", nullable=False),
        )
        op.create_index(f"ix_{table}_changed_generation", table, ["changed_generation"])
    op.add_column(
        "generation",
        sa.Column("tombstone_horizon", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_table(
        "pool_tombstones",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pool_tombstones"),
    )
    op.create_index("ix_pool_tombstones_generation", "pool_tombstones", ["generation"])


def downgrade() -> None:
    op.drop_index("ix_pool_tombstones_generation", table_name="pool_tombstones")
    op.drop_table("pool_tombstones")
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of pools would
    # cascade-delete every member and rule on the way
    op.drop_column("generation", "tombstone_horizon")
    for table in ("address_health", "pools"):
        op.drop_index(f"ix_{table}_changed_generation", table_name=table)
        op.drop_column(table, "changed_generation")
