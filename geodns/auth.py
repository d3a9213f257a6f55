"""API bearer tokens: roles, issuing, hashing, checking.

A token is "gdns_" + 32 random bytes (secrets.token_urlsafe): 256 bits of entropy. Only
its SHA-256 is stored. A slow KDF (bcrypt, scrypt, argon2) exists to make guessing a
low-entropy human password from its hash expensive; with 2**256 possible tokens there is
nothing to guess, so one fast hash is as safe and keeps every API request cheap.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets

from geodns.errors import Problem, ValidationError
from geodns.store.repository import LOCAL_ACTOR, Store, Token

TOKEN_PREFIX = "gdns_"
TOKEN_BYTES = 32
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Role(enum.StrEnum):
    ADMIN = "admin"  # everything, tokens and the audit log too
    EDITOR = "editor"  # pools and zone reloads, and every read
    PROBER = "prober"  # health reports, and reading the pools and health it probes
    READER = "reader"  # reads only


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hash_matches(stored_hash: str, token: str) -> bool:
    """Whether token hashes to stored_hash, compared in constant time."""
    return hmac.compare_digest(stored_hash.encode("ascii"), hash_token(token).encode("ascii"))


def token_problems(name: object, role: object) -> list[Problem]:
    problems = []
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(
            Problem(
                "name",
                "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or "
                f"digit, got {name!r}",
            )
        )
    if not isinstance(role, str) or role not in {r.value for r in Role}:
        problems.append(
            Problem("role", f"must be one of {', '.join(r.value for r in Role)}; got {role!r}")
        )
    return problems


async def issue_token(store: Store, name: object, role: object, *, actor: str = LOCAL_ACTOR) -> str:
    """Create a token named name with role; returns the token, which is shown only once.

    ValidationError for a bad name or role, Conflict when the name is taken.
    """
    problems = token_problems(name, role)
    if problems or not isinstance(name, str) or not isinstance(role, str):
        raise ValidationError("token", problems)
    token = new_token()
    await store.create_token(name, role, hash_token(token), actor=actor)
    return token


async def authenticate(store: Store, token: str) -> Token | None:
    """The stored token this bearer token is, or None (unknown or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    stored = await store.find_token(hash_token(token))
    # the lookup is by hash, so it reveals nothing about the token; compare anyway, in
    # constant time, so correctness never rests on how the database compares strings
    if stored is None or not hash_matches(stored.token_hash, token):
        return None
    return stored
