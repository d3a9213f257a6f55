"""End-to-end fixtures: the real databases of tests/databases.py."""

from databases import backend, database_url, empty_database_url  # noqa: F401 (fixtures)
