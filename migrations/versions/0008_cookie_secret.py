"""cookie_secret: the DNS cookie secret every node shares (RFC 9018), one row

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:00:00

A new table only: the first geodns to start on the database makes the secret.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they were at this revision (not imported from geodns).
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cookie_secret",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("current", sa.LargeBinary(length=16), nullable=False),
        sa.Column("previous", sa.LargeBinary(length=16), nullable=True),
        sa.Column("previous_until", UTC_DATETIME, nullable=True),
        sa.Column("rotated_at", UTC_DATETIME, nullable=False),
        sa.Column("changed_generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cookie_secret"),
    )


def downgrade() -> None:
    op.drop_table("cookie_secret")
