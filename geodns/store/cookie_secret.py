"""The DNS cookie secret in the database: made at first start, rotated on demand.

Control plane: does I/O. CookieSecretMethods are Store's cookie calls. One secret for
every node sharing the database, so a server cookie one node made is valid at any other
(an anycast set agrees, RFC 9018 §4.4); a rotation bumps the generation, so every node
reads the new secret as it reads any change, and keeps accepting the previous one for
an hour: no cookie a client holds is refused because of it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.dns.cookie import SECRET_SIZE, VALID_BEFORE_S, CookieSecrets
from geodns.store import tables as t
from geodns.store.core import LOCAL_ACTOR, StoreCore, lock_writers

ROW_ID = 1
PREVIOUS_KEPT = timedelta(seconds=VALID_BEFORE_S)  # as long as a cookie made with it lives


class CookieSecretMethods(StoreCore):
    async def ensure_cookie_secret(self) -> bool:
        """Make the secret when the database has none; True when this call made it."""
        async with self._read() as conn:
            if await read_cookie_secrets(conn) is not None:
                return False
        async with self._write("cookie secret") as conn:
            await lock_writers(conn)  # two nodes starting at once: one makes it
            if await read_cookie_secrets(conn) is not None:
                return False
            generation = await self._bump(conn)
            now = self._clock()
            await conn.execute(
                insert(t.cookie_secret).values(
                    id=ROW_ID,
                    current=os.urandom(SECRET_SIZE),
                    rotated_at=now,
                    changed_generation=generation,
                )
            )
            await self._audit(conn, LOCAL_ACTOR, "cookies.create", "cookie secret", None, None)
            return True

    async def rotate_cookie_secret(self, *, actor: str = LOCAL_ACTOR) -> datetime:
        """A new current secret; the one before is accepted until the returned time."""
        async with self._write("cookie secret") as conn:
            await lock_writers(conn)
            row = (
                await conn.execute(select(t.cookie_secret).where(t.cookie_secret.c.id == ROW_ID))
            ).one_or_none()
            generation = await self._bump(conn)
            now = self._clock()
            until = now + PREVIOUS_KEPT
            fresh = os.urandom(SECRET_SIZE)
            if row is None:
                await conn.execute(
                    insert(t.cookie_secret).values(
                        id=ROW_ID, current=fresh, rotated_at=now, changed_generation=generation
                    )
                )
            else:
                await conn.execute(
                    update(t.cookie_secret)
                    .where(t.cookie_secret.c.id == ROW_ID)
                    .values(
                        current=fresh,
                        previous=row.current,
                        previous_until=until,
                        rotated_at=now,
                        changed_generation=generation,
                    )
                )
            after = {"previous_valid_until": until.isoformat()}
            await self._audit(conn, actor, "cookies.rotate", "cookie secret", None, after)
            return until

    async def load_cookie_secrets(self) -> CookieSecrets | None:
        async with self._read() as conn:
            return await read_cookie_secrets(conn)


async def read_cookie_secrets(
    conn: AsyncConnection, since: int | None = None
) -> CookieSecrets | None:
    """The secrets; with since, only if they changed after that generation (else None)."""
    query = select(t.cookie_secret).where(t.cookie_secret.c.id == ROW_ID)
    if since is not None:
        query = query.where(t.cookie_secret.c.changed_generation > since)
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    until = row.previous_until.timestamp() if row.previous_until is not None else 0.0
    return CookieSecrets(bytes(row.current), _optional_bytes(row.previous), until)


def _optional_bytes(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)
