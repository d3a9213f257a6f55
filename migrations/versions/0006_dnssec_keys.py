"""dnssec_zones and dnssec_keys: each signed zone's policy and its keys, sealed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00

New tables only: no zone is signed until `geodns dnssec enable` says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types as they were at this revision (not imported from geodns).
UTC_DATETIME = sa.DateTime(timezone=True)
NAME = sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "dnssec_zones",
        sa.Column("zone", NAME, nullable=False),
        sa.Column("algorithm", sa.Integer(), nullable=False),
        sa.Column("dnskey_ttl_s", sa.Integer(), nullable=False),
        sa.Column("propagation_delay_s", sa.Integer(), nullable=False),
        sa.Column("parent_ds_ttl_s", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("changed_generation", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("zone", name="pk_dnssec_zones"),
    )
    op.create_table(
        "dnssec_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", NAME, nullable=False),
        sa.Column("algorithm", sa.Integer(), nullable=False),
        sa.Column("key_tag", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("publish_at", UTC_DATETIME, nullable=False),
        sa.Column("active_at", UTC_DATETIME, nullable=False),
        sa.Column("retire_at", UTC_DATETIME, nullable=True),
        sa.Column("remove_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["zone"],
            ["dnssec_zones.zone"],
            name="fk_dnssec_keys_zone_dnssec_zones",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dnssec_keys"),
    )
    op.create_index("ix_dnssec_keys_zone", "dnssec_keys", ["zone"])


def downgrade() -> None:
    op.drop_index("ix_dnssec_keys_zone", table_name="dnssec_keys")
    op.drop_table("dnssec_keys")
    op.drop_table("dnssec_zones")
