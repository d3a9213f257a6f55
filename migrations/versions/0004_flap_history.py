"""flap damping history in address_health: every node damps an address alike

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00

Until now each process kept its own memory of an address's flaps, so a node that had not
seen them undid another node's hold. Existing rows start with their decided state as the
voted one and no remembered changes: a hold in progress when a node upgrades is lost
once, which is what a restart did before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they were at this revision (not imported from geodns).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "address_health",
        sa.Column("raw_down", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "address_health",
        sa.Column("raw_changes", sa.JSON(), server_default="[]", nullable=False),
    )
    op.add_column("address_health", sa.Column("held_until", UTC_DATETIME, nullable=True))
    op.execute("UPDATE address_health SET raw_down = down")


def downgrade() -> None:
    for column in ("held_until", "raw_changes", "raw_down"):
        op.drop_column("address_health", column)
