"""API tokens in the database: name, role and the token's hash, never the token.

Control plane: does I/O. TokenMethods are Store's token calls; the functions below work
on the caller's connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.errors import Conflict, NotFound
from geodns.store import tables as t
from geodns.store.core import LOCAL_ACTOR, StoreCore

ADMIN_ROLE = "admin"  # geodns.auth.Role.ADMIN: the store does not import the API's roles


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    role: str  # "admin", "editor", "prober" or "reader" (geodns.auth.Role)
    created_at: datetime
    created_by: str
    token_hash: str = ""  # hex SHA-256 of the token; the token itself is never stored


class TokenMethods(StoreCore):
    """Store's token calls; each change writes its audit row in its transaction."""

    async def create_token(
        self, name: str, role: str, token_hash: str, *, actor: str = LOCAL_ACTOR
    ) -> Token:
        """Keep a new token's hash under name; Conflict if the name is taken."""
        async with self._write(f"token {name}") as conn:
            if await token_by_name(conn, name) is not None:
                raise Conflict(f"token {name} already exists: revoke it first or pick a new name")
            token = await insert_token(conn, name, role, token_hash, self._clock(), actor)
            after = {"name": name, "role": role}
            await self._audit(conn, actor, "token.create", f"tokens/{name}", None, after)
            return token

    async def find_token(self, token_hash: str) -> Token | None:
        async with self._read() as conn:
            return await token_by_hash(conn, token_hash)

    async def list_tokens(self) -> list[Token]:
        """Every token by name, without hashes."""
        async with self._read() as conn:
            return await all_tokens(conn)

    async def revoke_token(
        self, name: str, *, actor: str = LOCAL_ACTOR, keep_an_admin: bool = False
    ) -> None:
        """Delete the token: requests carrying it fail from now on. NotFound; with
        keep_an_admin, Conflict when it is the last admin token (decided under the
        writers' lock, so two revocations at once cannot both pass)."""
        async with self._write(f"token {name}") as conn:
            before = await token_by_name(conn, name)
            if before is None:
                raise NotFound(f"no token {name}")
            if keep_an_admin and before.role == ADMIN_ROLE:
                admins = [token for token in await all_tokens(conn) if token.role == ADMIN_ROLE]
                if len(admins) == 1:
                    raise Conflict(
                        f"token {name} is the last admin token: revoking it would leave "
                        "nobody to manage tokens; create another admin token first (or "
                        "revoke it locally: geodns token revoke NAME)"
                    )
            if not await delete_token(conn, name):
                raise NotFound(f"no token {name}")
            doc = {"name": name, "role": before.role}
            await self._audit(conn, actor, "token.revoke", f"tokens/{name}", doc, None)


async def insert_token(
    conn: AsyncConnection, name: str, role: str, token_hash: str, at: datetime, by: str
) -> Token:
    await conn.execute(
        insert(t.api_tokens).values(
            name=name, role=role, token_hash=token_hash, created_at=at, created_by=by
        )
    )
    return Token(name, role, at, by, token_hash)


async def token_by_name(conn: AsyncConnection, name: str) -> Token | None:
    row = (
        await conn.execute(select(t.api_tokens).where(t.api_tokens.c.name == name))
    ).one_or_none()
    return (
        None
        if row is None
        else Token(row.name, row.role, row.created_at, row.created_by, row.token_hash)
    )


async def token_by_hash(conn: AsyncConnection, token_hash: str) -> Token | None:
    query = select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
    row = (await conn.execute(query)).one_or_none()
    return (
        None
        if row is None
        else Token(row.name, row.role, row.created_at, row.created_by, row.token_hash)
    )


async def all_tokens(conn: AsyncConnection) -> list[Token]:
    rows = await conn.execute(select(t.api_tokens).order_by(t.api_tokens.c.name))
    return [Token(r.name, r.role, r.created_at, r.created_by) for r in rows]


async def delete_token(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(delete(t.api_tokens).where(t.api_tokens.c.name == name))
    return bool(result.rowcount)
