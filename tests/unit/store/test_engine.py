"""Database URLs as an operator writes them (geodns.store.engine)."""

from __future__ import annotations

import pytest

from geodns.errors import ConfigError
from geodns.store.engine import database_url, safe_url


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///geodns.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///geodns.db", "sqlite+aiosqlite"),
        ("postgresql://geodns@db/geodns", "postgresql+asyncpg"),
        ("postgresql+asyncpg://geodns@db/geodns", "postgresql+asyncpg"),
    ],
    ids=["sqlite", "sqlite-async", "postgresql", "postgresql-async"],
)
def test_plain_urls_get_the_async_driver_of_their_database(given: str, driver: str) -> None:
    assert database_url(given).drivername == driver


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("not a url", "not a database URL: 'not a url'"),
        ("mysql://u@h/d", "unsupported database 'mysql'"),
    ],
    ids=["garbage", "mysql"],
)
def test_urls_geodns_cannot_use_are_config_errors_saying_what_works(
    given: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        database_url(given)


def test_a_safe_url_never_shows_the_password() -> None:
    assert safe_url("postgresql+asyncpg://geodns:s3cret@db/geodns") == (
        "postgresql+asyncpg://geodns:***@db/geodns"
    )
    assert safe_url("not a url") == "<unparseable database URL>"
