"""API tokens: what is stored and what a name and role may be (geodns.auth)."""

from __future__ import annotations

import hashlib

import pytest

from geodns.auth import hash_matches, hash_token, new_token, token_problems
from geodns.errors import Problem


def test_a_new_token_is_prefixed_random_and_only_its_hash_is_kept() -> None:
    first, second = new_token(), new_token()
    assert first.startswith("gdns_") and len(first) == 5 + 43 and first != second
    assert hash_token(first) == hashlib.sha256(first.encode()).hexdigest()
    assert hash_matches(hash_token(first), first)
    assert not hash_matches(hash_token(first), second)


@pytest.mark.parametrize(
    ("name", "role", "wheres"),
    [
        ("probe-eu1", "prober", []),
        ("-x", "reader", ["name"]),
        ("ok", "root", ["role"]),
        (3, None, ["name", "role"]),
        ("x" * 65, "admin", ["name"]),
    ],
    ids=["good", "leading-dash", "unknown-role", "wrong-types", "too-long"],
)
def test_token_names_and_roles_are_checked_together(name, role, wheres) -> None:
    assert [p.where for p in token_problems(name, role)] == wheres


def test_an_unknown_role_names_the_roles_there_are() -> None:
    assert token_problems("ok", "root") == [
        Problem("role", "must be one of admin, editor, prober, reader; got 'root'")
    ]
