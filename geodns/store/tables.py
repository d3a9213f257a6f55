"""The database schema as SQLAlchemy Core tables: pools, members, rules, health, generation,
pool tombstones, API tokens, the audit log, DNSSEC keys and node heartbeats.

Schema only: no queries, no engine. Types are portable between SQLite and PostgreSQL;
migrations/versions/*.py must create exactly this (a test compares them with alembic).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations can name what they alter.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NAME_LENGTH = 255  # RFC 1035 §2.3.4: a name is at most 255 octets
ADDRESS_LENGTH = 64  # longest IPv6 text is 45 characters
LABEL_LENGTH = 64
URL_LENGTH = 2048  # a member's base URL (geodns.pools.validate.MAX_URL_LENGTH)
NOTIFY_CHANNEL = "geodns_changes"  # PostgreSQL: NOTIFY payload is the new generation


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone: UTC is implied)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware UTC time")
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive there so every row compares the same way
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


pools = Table(
    "pools",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("ttl", Integer, nullable=False),
    Column("policy", String(16), nullable=False),
    Column("max_answers", Integer, nullable=False),
    Column("min_healthy_fraction", Float, nullable=False),
    Column("fail_open", Boolean, nullable=False),
    Column("default_regions", JSON(none_as_null=True), nullable=True),
    Column("check", JSON(none_as_null=True), nullable=True),
    Column("version", Integer, nullable=False),  # ETag: +1 on every change to the pool
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # the generation of the pool's last change (its row, members or rules): a node that
    # has generation G reads only the pools changed after it (Store.load_changes)
    Column("changed_generation", BigInteger, nullable=False, server_default="0"),
    Index(None, "changed_generation"),
)

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pool_id", Integer, ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("address", String(ADDRESS_LENGTH), nullable=False),
    Column("weight", Integer, nullable=False),
    Column("region", String(LABEL_LENGTH), nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("priority", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("url", String(URL_LENGTH), nullable=True),  # the HTTP redirector's base URL
    UniqueConstraint("pool_id", "address"),
    UniqueConstraint("pool_id", "position"),
)

rules = Table(
    "rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pool_id", Integer, ForeignKey("pools.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    Column("regions", JSON, nullable=False),
    UniqueConstraint("pool_id", "position"),
)

# The latest report of each probe about each address (the health code votes over them).
health_reports = Table(
    "health_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("probe", String(NAME_LENGTH), nullable=False),
    Column("address", String(ADDRESS_LENGTH), nullable=False),
    Column("status", String(8), nullable=False),  # "up" | "down"
    Column("reason", Text, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    Column("ttl_s", Float, nullable=False),
    UniqueConstraint("probe", "address"),
    Index(None, "address"),
)

# The decided state per address, as the snapshot serves it.
address_health = Table(
    "address_health",
    metadata,
    Column("address", String(ADDRESS_LENGTH), primary_key=True),
    Column("down", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("probes", JSON, nullable=False),  # {probe: says_down}
    # the generation at which (down, reason) last changed: what load_changes reads
    Column("changed_generation", BigInteger, nullable=False, server_default="0"),
    # flap damping's memory (geodns.health.damping), shared by every node: the
    # voted state before damping, when it changed (Unix seconds, newest last), and until
    # when the address is held down whatever the votes say
    Column("raw_down", Boolean, nullable=False, server_default=false()),
    Column("raw_changes", JSON, nullable=False, server_default="[]"),
    Column("held_until", UtcDateTime, nullable=True),
    Index(None, "changed_generation"),
)

health_transitions = Table(
    "health_transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(ADDRESS_LENGTH), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("down", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("votes", JSON, nullable=False),
    Index(None, "address", "at"),
)

# API bearer tokens: only the SHA-256 of each token is kept (see geodns.auth).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(LABEL_LENGTH), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # hex SHA-256
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
)

# One row per change, written in the transaction of the change itself.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),  # token name, probe, "local"
    Column("action", String(32), nullable=False),  # "pool.create", "health.down", ...
    Column("target", String(512), nullable=False),  # "pools/www.example.com.", ...
    Column("before", JSON(none_as_null=True), nullable=True),
    Column("after", JSON(none_as_null=True), nullable=True),
    Index(None, "actor"),
    Index(None, "target"),
)

# One row (id 1): bumped in the same transaction as every change a snapshot shows.
generation = Table(
    "generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
    # tombstones up to this generation are pruned: changes since an older generation
    # cannot be told apart from nothing, so load_changes answers with everything
    Column("tombstone_horizon", BigInteger, nullable=False, server_default="0"),
)

# A deleted pool's name and the generation that deleted it, so nodes learn of deletes by
# reading changes; pruned after TOMBSTONE_KEEP (geodns.store.changes), re-created names
# lose theirs.
pool_tombstones = Table(
    "pool_tombstones",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("deleted_at", UtcDateTime, nullable=False),
    Index(None, "generation"),
)

# DNSSEC: how each signed zone is signed (geodns.dnssec.rollover.Policy), one row per zone;
# changed_generation is the generation of the zone's last key change, as for pools.
dnssec_zones = Table(
    "dnssec_zones",
    metadata,
    Column("zone", String(NAME_LENGTH), primary_key=True),  # "example.com.", lowercase
    Column("algorithm", Integer, nullable=False),  # 13 or 15
    Column("dnskey_ttl_s", Integer, nullable=False),
    Column("propagation_delay_s", Integer, nullable=False),
    Column("parent_ds_ttl_s", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_generation", BigInteger, nullable=False, server_default="0"),
)

# The zone's keys with their schedule (geodns.dnssec.rollover.KeyTimes). The private key is
# sealed with dnssec_key_secret (geodns.dnssec.sealing): the database never holds it bare.
dnssec_keys = Table(
    "dnssec_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "zone",
        String(NAME_LENGTH),
        ForeignKey("dnssec_zones.zone", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("algorithm", Integer, nullable=False),
    Column("key_tag", Integer, nullable=False),  # RFC 4034 Appendix B, for people and logs
    Column("public_key", LargeBinary, nullable=False),  # the DNSKEY public key field
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("publish_at", UtcDateTime, nullable=False),  # joins the DNSKEY RRset
    Column("active_at", UtcDateTime, nullable=False),  # signs the zone's data
    Column("retire_at", UtcDateTime, nullable=True),  # signs the DNSKEY RRset only
    Column("remove_at", UtcDateTime, nullable=True),  # leaves the DNSKEY RRset
    Index(None, "zone"),
)

# One row per geodns node sharing this database: its latest heartbeat (geodns.store.nodes).
nodes = Table(
    "nodes",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("version", String(LABEL_LENGTH), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("snapshot_generation", BigInteger, nullable=False),
    Column("store_generation", BigInteger, nullable=False),  # what its snapshot reflects
    Column("store_head", BigInteger, nullable=False),  # the database's, at that beat
    Column("behind_since", UtcDateTime, nullable=True),
)

GENERATION_ROW_ID = 1

# DNS cookies (RFC 9018): the secret every node makes and checks server cookies with, one
# row (id 1). The previous secret is still accepted until previous_until, an hour after a
# rotation; changed_generation tells nodes to read the row again, as for pools.
cookie_secret = Table(
    "cookie_secret",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("current", LargeBinary(16), nullable=False),
    Column("previous", LargeBinary(16), nullable=True),
    Column("previous_until", UtcDateTime, nullable=True),
    Column("rotated_at", UtcDateTime, nullable=False),
    Column("changed_generation", BigInteger, nullable=False),
)
