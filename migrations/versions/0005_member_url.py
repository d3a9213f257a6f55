"""members.url: the base URL the HTTP redirector sends a member's clients to

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 00:00:00

Optional: existing members get none, and DNS is unchanged by it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "url")
