"""DNSSEC keys in the database: each signed zone's policy and its keys, private halves sealed.

Control plane: does I/O. SigningMethods are Store's DNSSEC calls. The store never sees
dnssec_key_secret: keys arrive sealed (geodns.zone_keys seals them) and leave sealed.
Every change bumps the generation (nodes rebuild their snapshots from it) and writes its
audit row, without any key material, in the same transaction. The rollover rules are
geodns.dnssec.rollover's, applied here under the writers' lock so two operators cannot
start two rollovers at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from geodns.dnssec.keys import Algorithm, PublicKey
from geodns.dnssec.rollover import (
    KeyTimes,
    Policy,
    check_rollover,
    confirm_ds_replaced,
    first_key,
    start_rollover,
)
from geodns.errors import Conflict, NotFound
from geodns.store import tables as t
from geodns.store.core import LOCAL_ACTOR, StoreCore, lock_writers


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key made and sealed by the control plane, ready to be stored."""

    public: PublicKey
    sealed: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class StoredKey:
    times: KeyTimes
    sealed: bytes = field(repr=False)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ZoneSigning:
    """A signed zone as stored: its policy and every key it has had (removed ones too)."""

    policy: Policy
    keys: tuple[StoredKey, ...]
    created_at: datetime
    changed_generation: int

    @property
    def times(self) -> tuple[KeyTimes, ...]:
        return tuple(k.times for k in self.keys)


class SigningMethods(StoreCore):
    """Store's DNSSEC calls; zone names are fully qualified and lowercase."""

    async def enable_signing(
        self, policy: Policy, key: NewKey, *, actor: str = LOCAL_ACTOR
    ) -> ZoneSigning:
        """Sign policy.zone from now on with key; Conflict if it is signed already."""
        async with self._write(f"dnssec {policy.zone}") as conn:
            await lock_writers(conn)
            if await _zone_row(conn, policy.zone) is not None:
                raise Conflict(
                    f"zone {policy.zone} is signed already: see geodns dnssec status "
                    f"{policy.zone}; a new key comes with geodns dnssec rollover"
                )
            now = self._clock()
            generation = await self._bump(conn)
            await conn.execute(
                insert(t.dnssec_zones).values(
                    zone=policy.zone,
                    algorithm=int(policy.algorithm),
                    dnskey_ttl_s=policy.dnskey_ttl_s,
                    propagation_delay_s=policy.propagation_delay_s,
                    parent_ds_ttl_s=policy.parent_ds_ttl_s,
                    created_at=now,
                    changed_generation=generation,
                )
            )
            times = first_key(0, key.public, now)
            await _insert_key(conn, policy.zone, key, times, now)
            after = {"policy": _policy_document(policy), "key_tag": key.public.tag}
            await self._audit(conn, actor, "dnssec.enable", _target(policy.zone), None, after)
            return await _signing(conn, policy.zone)

    async def get_signing(self, zone: str) -> ZoneSigning:
        """The zone's policy and keys; NotFound when it is not signed."""
        async with self._read() as conn:
            return await _signing(conn, zone)

    async def list_signing(self) -> list[ZoneSigning]:
        """Every signed zone, by name."""
        async with self._read() as conn:
            return list(await read_signing(conn))

    async def start_rollover(
        self,
        zone: str,
        algorithm: Algorithm | None,
        key: NewKey,
        *,
        actor: str = LOCAL_ACTOR,
    ) -> ZoneSigning:
        """Pre-publish key and schedule the switch (geodns.dnssec.rollover, steps 1 and 2);
        RolloverRefused during a rollover or for another algorithm, NotFound."""
        async with self._write(f"dnssec {zone}") as conn:
            await lock_writers(conn)
            signing = await _signing(conn, zone)
            now = self._clock()
            old = check_rollover(signing.policy, signing.times, algorithm, now)
            old, new = start_rollover(signing.policy, old, 0, key.public, now)
            generation = await self._bump(conn)
            await _update_key(conn, old)
            await _insert_key(conn, zone, key, new, now)
            await _touch_zone(conn, zone, generation)
            after = {
                "new_key_tag": key.public.tag,
                "old_key_tag": old.public.tag,
                "switch_at": _iso(new.active_at),
            }
            await self._audit(conn, actor, "dnssec.rollover", _target(zone), None, after)
            return await _signing(conn, zone)

    async def confirm_ds_replaced(self, zone: str, *, actor: str = LOCAL_ACTOR) -> ZoneSigning:
        """The parent serves the new DS: schedule the old key's removal (step 3);
        RolloverRefused before the switch or outside a rollover, NotFound."""
        async with self._write(f"dnssec {zone}") as conn:
            await lock_writers(conn)
            signing = await _signing(conn, zone)
            old = confirm_ds_replaced(signing.policy, signing.times, self._clock())
            generation = await self._bump(conn)
            await _update_key(conn, old)
            await _touch_zone(conn, zone, generation)
            assert old.remove_at is not None
            after = {"old_key_tag": old.public.tag, "remove_at": _iso(old.remove_at)}
            await self._audit(conn, actor, "dnssec.ds_replaced", _target(zone), None, after)
            return await _signing(conn, zone)


async def read_signing(conn: AsyncConnection, since: int | None = None) -> tuple[ZoneSigning, ...]:
    """Every signed zone by name; with since, only if some zone's keys changed after that
    generation (else nothing)."""
    if since is not None:
        newest = (
            await conn.execute(select(func.max(t.dnssec_zones.c.changed_generation)))
        ).scalar()
        if newest is None or newest <= since:
            return ()
    rows = await conn.execute(select(t.dnssec_zones.c.zone).order_by(t.dnssec_zones.c.zone))
    return tuple([await _signing(conn, row.zone) for row in rows.all()])


async def _zone_row(conn: AsyncConnection, zone: str) -> Any:
    query = select(t.dnssec_zones).where(t.dnssec_zones.c.zone == zone)
    return (await conn.execute(query)).one_or_none()


async def _signing(conn: AsyncConnection, zone: str) -> ZoneSigning:
    row = await _zone_row(conn, zone)
    if row is None:
        raise NotFound(f"zone {zone} is not signed: geodns dnssec enable {zone} signs it")
    algorithm = Algorithm(row.algorithm)
    policy = Policy(
        row.zone, algorithm, row.dnskey_ttl_s, row.propagation_delay_s, row.parent_ds_ttl_s
    )
    query = select(t.dnssec_keys).where(t.dnssec_keys.c.zone == zone).order_by(t.dnssec_keys.c.id)
    keys = tuple(
        StoredKey(
            KeyTimes(
                k.id,
                PublicKey(Algorithm(k.algorithm), bytes(k.public_key)),
                k.publish_at,
                k.active_at,
                k.retire_at,
                k.remove_at,
            ),
            bytes(k.private_key_sealed),
            k.created_at,
        )
        for k in (await conn.execute(query)).all()
    )
    return ZoneSigning(policy, keys, row.created_at, row.changed_generation)


async def _insert_key(
    conn: AsyncConnection, zone: str, key: NewKey, times: KeyTimes, now: datetime
) -> None:
    await conn.execute(
        insert(t.dnssec_keys).values(
            zone=zone,
            algorithm=int(key.public.algorithm),
            key_tag=key.public.tag,
            public_key=key.public.key,
            private_key_sealed=key.sealed,
            created_at=now,
            publish_at=times.publish_at,
            active_at=times.active_at,
            retire_at=times.retire_at,
            remove_at=times.remove_at,
        )
    )


async def _update_key(conn: AsyncConnection, times: KeyTimes) -> None:
    await conn.execute(
        update(t.dnssec_keys)
        .where(t.dnssec_keys.c.id == times.key_id)
        .values(
            publish_at=times.publish_at,
            active_at=times.active_at,
            retire_at=times.retire_at,
            remove_at=times.remove_at,
        )
    )


async def _touch_zone(conn: AsyncConnection, zone: str, generation: int) -> None:
    await conn.execute(
        update(t.dnssec_zones)
        .where(t.dnssec_zones.c.zone == zone)
        .values(changed_generation=generation)
    )


def _policy_document(policy: Policy) -> dict[str, Any]:
    return {
        "algorithm": int(policy.algorithm),
        "dnskey_ttl_s": policy.dnskey_ttl_s,
        "propagation_delay_s": policy.propagation_delay_s,
        "parent_ds_ttl_s": policy.parent_ds_ttl_s,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _target(zone: str) -> str:
    return f"dnssec/{zone}"
