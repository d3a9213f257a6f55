"""DNSSEC keys of the served zones: enable, status, DS, rollover, and opening them to sign.

Control plane: talks to the store. The CLI and the API call the same functions, so the
two cannot drift. A private key is made and sealed here with dnssec_key_secret, stored
sealed, and opened here again for the snapshot builder; the secret goes no further.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geodns.dns import names
from geodns.dnssec.keys import (
    DIGEST_SHA256,
    Algorithm,
    KeyMaterialError,
    PublicKey,
    SigningKey,
    generate_private_key,
    load_signing_key,
)
from geodns.dnssec.publish import ZoneKeySet
from geodns.dnssec.rollover import (
    DEFAULT_DNSKEY_TTL_S,
    DEFAULT_PARENT_DS_TTL_S,
    DEFAULT_PROPAGATION_DELAY_S,
    Phase,
    Policy,
    algorithm_change_refusal,
    next_change,
    zone_keys_at,
    zone_status,
)
from geodns.dnssec.sealing import SealError, associated_data, seal, unseal
from geodns.dnssec.signer import ZoneKeys
from geodns.errors import ConfigError, Problem, ValidationError
from geodns.store.repository import LOCAL_ACTOR, NewKey, Store, StoredKey, ZoneSigning

log = logging.getLogger(__name__)

ALGORITHMS = {int(a): a for a in Algorithm}
MAX_TTL_S = 2**31 - 1  # RFC 2181 §8


def zone_key(zone: str) -> str:
    """A zone name as the keys table keys it: fully qualified, lowercase."""
    try:
        return names.to_text(names.from_text(zone if zone.endswith(".") else zone + "."))
    except names.NameTextError as exc:
        raise ValidationError("zone", [Problem("zone", str(exc))]) from None


def require_secret(secret: str, action: str) -> str:
    if not secret:
        raise ConfigError(
            f"{action} needs dnssec_key_secret, which seals the private keys in the "
            "database: set GEODNS_DNSSEC_KEY_SECRET (or dnssec_key_secret in the settings "
            "file) to the same value on every node; `geodns dnssec secret` prints a new one"
        )
    return secret


def algorithm_of(value: object, field: str = "algorithm") -> Algorithm:
    """13 or 15 (as int or text) -> Algorithm; ValidationError naming the field otherwise."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.isdigit():
        number = int(value)
    if number not in ALGORITHMS:
        raise ValidationError(
            "dnssec request",
            [Problem(field, f"must be 13 (ECDSAP256SHA256) or 15 (ED25519), got {value!r}")],
        )
    return ALGORITHMS[number]


def seconds_of(value: object, field: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_TTL_S:
        raise ValidationError(
            "dnssec request", [Problem(field, f"must be whole seconds from {low} to {MAX_TTL_S}")]
        )
    return value


def make_key(secret: str, zone: str, algorithm: Algorithm) -> NewKey:
    """A new CSK for zone, its private half sealed for the store."""
    pkcs8 = generate_private_key(algorithm)
    public = load_signing_key(algorithm, pkcs8).public
    aad = associated_data(names.from_text(zone), public.rdata)
    return NewKey(public, seal(secret, pkcs8, aad))


def open_key(secret: str, zone: bytes, stored: StoredKey) -> SigningKey:
    """One stored key of zone (a wire name), opened; SealError or KeyMaterialError when
    the secret (or the row) does not fit."""
    public = stored.times.public
    pkcs8 = unseal(secret, stored.sealed, associated_data(zone, public.rdata))
    key = load_signing_key(public.algorithm, pkcs8)
    if key.public != public:
        raise KeyMaterialError("the private key does not belong to the stored public key")
    return key


def open_keys(signing: ZoneSigning, secret: str) -> dict[int, SigningKey]:
    """Every key of the zone, opened, by key id (see open_key)."""
    zone = names.from_text(signing.policy.zone)
    return {stored.times.key_id: open_key(secret, zone, stored) for stored in signing.keys}


async def check_secret_fits(store: Store, secret: str) -> None:
    """ConfigError when keys already stored were sealed with another secret: one database,
    one secret, or some nodes could not sign some zones."""
    for signing in await store.list_signing():
        try:
            open_keys(signing, secret)
        except (SealError, KeyMaterialError) as exc:
            raise ConfigError(
                f"zone {signing.policy.zone}: {exc}; every zone in one database is sealed "
                "with one dnssec_key_secret: use the one the existing keys were made with"
            ) from None


async def enable(
    store: Store,
    secret: str,
    zone: str,
    served: Collection[str],
    *,
    algorithm: Algorithm = Algorithm.ECDSAP256SHA256,
    dnskey_ttl_s: int = DEFAULT_DNSKEY_TTL_S,
    propagation_delay_s: int = DEFAULT_PROPAGATION_DELAY_S,
    parent_ds_ttl_s: int = DEFAULT_PARENT_DS_TTL_S,
    actor: str = LOCAL_ACTOR,
) -> ZoneSigning:
    """Sign zone from now on; it must be one of the served zones (fully qualified names)."""
    secret = require_secret(secret, "dnssec enable")
    zone = zone_key(zone)
    if zone not in served:
        raise ValidationError(
            "dnssec request",
            [
                Problem(
                    "zone",
                    f"no zone file serves {zone}: sign a zone geodns serves "
                    "(geodns check lists them)",
                )
            ],
        )
    await check_secret_fits(store, secret)
    policy = Policy(zone, algorithm, dnskey_ttl_s, propagation_delay_s, parent_ds_ttl_s)
    return await store.enable_signing(policy, make_key(secret, zone, algorithm), actor=actor)


async def rollover(
    store: Store,
    secret: str,
    zone: str,
    *,
    algorithm: Algorithm | None = None,
    ds_replaced: bool = False,
    actor: str = LOCAL_ACTOR,
) -> ZoneSigning:
    """Start a rollover (a new key, pre-published), or with ds_replaced confirm that the
    parent serves the new key's DS so the old key can go (geodns.dnssec.rollover)."""
    zone = zone_key(zone)
    if ds_replaced:
        return await store.confirm_ds_replaced(zone, actor=actor)
    secret = require_secret(secret, "dnssec rollover")
    signing = await store.get_signing(zone)
    if algorithm is not None and algorithm != signing.policy.algorithm:
        message = algorithm_change_refusal(signing.policy, algorithm)
        raise ValidationError("dnssec request", [Problem("algorithm", message)])
    await check_secret_fits(store, secret)
    new = make_key(secret, zone, algorithm or signing.policy.algorithm)
    return await store.start_rollover(zone, algorithm, new, actor=actor)


@dataclass(frozen=True, slots=True)
class Presentation:
    """A key's records in zone file text."""

    dnskey: str  # "257 3 13 base64..."
    ds: str  # "12345 13 2 HEX..."


def presentation(zone: str, public: PublicKey) -> Presentation:
    key = base64.b64encode(public.key).decode("ascii")
    digest = public.ds_rdata(names.from_text(zone))[4:].hex().upper()
    return Presentation(
        f"{public.flags} 3 {int(public.algorithm)} {key}",
        f"{public.tag} {int(public.algorithm)} {DIGEST_SHA256} {digest}",
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def status_document(signing: ZoneSigning, now: datetime) -> dict[str, Any]:
    """The zone's signing state as the API returns it and the CLI prints it."""
    policy = signing.policy
    status = zone_status(policy, signing.times, now)
    keys = []
    ds = []
    for state in status.keys:
        times = state.times
        shown = presentation(policy.zone, times.public)
        keys.append(
            {
                "key_tag": times.public.tag,
                "algorithm": int(times.public.algorithm),
                "phase": state.phase.value,
                "publish_at": _iso(times.publish_at),
                "active_at": _iso(times.active_at),
                "retire_at": _iso(times.retire_at),
                "remove_at": _iso(times.remove_at),
                "dnskey": shown.dnskey,
                "ds": shown.ds,
            }
        )
        if state.phase is Phase.ACTIVE:
            ds.append(f"{policy.zone} IN DS {shown.ds}")
    return {
        "zone": policy.zone,
        "algorithm": int(policy.algorithm),
        "algorithm_name": policy.algorithm.name,
        "dnskey_ttl_s": policy.dnskey_ttl_s,
        "propagation_delay_s": policy.propagation_delay_s,
        "parent_ds_ttl_s": policy.parent_ds_ttl_s,
        "step": status.step,
        "next_step": status.next_step,
        "next_at": _iso(status.next_at),
        "keys": keys,
        "ds": ds,
    }


def status_lines(document: Mapping[str, Any]) -> list[str]:
    """`geodns dnssec status` as text."""
    lines = [
        f"zone {document['zone']}: signed with algorithm {document['algorithm']} "
        f"({document['algorithm_name']}), DNSKEY TTL {document['dnskey_ttl_s']} s",
        f"step: {document['step']}",
        f"next: {document['next_step']}",
    ]
    for key in document["keys"]:
        moments = [
            f"{what} {key[field]}"
            for what, field in (
                ("published", "publish_at"),
                ("signs", "active_at"),
                ("retires", "retire_at"),
                ("removed", "remove_at"),
            )
            if key[field] is not None
        ]
        lines.append(f"key {key['key_tag']}: {key['phase']}; " + ", ".join(moments))
        if key["phase"] != Phase.REMOVED.value:
            lines.append(
                f"  {document['zone']} {document['dnskey_ttl_s']} IN DNSKEY {key['dnskey']}"
            )
            lines.append(f"  {document['zone']} IN DS {key['ds']}")
    return lines


class KeyRing:
    """The zones' keys as this node can use them: what the snapshot builder signs with.

    Opens each stored key once (by its row id and sealed bytes) and says, once per cause
    and zone, at ERROR, why a zone cannot be signed here: such a zone's DO queries get
    SERVFAIL (geodns.answer.dnssec) until the setting is fixed.
    """

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._opened: dict[tuple[int, bytes], SigningKey] = {}
        self._told: dict[str, str] = {}  # zone -> the problem last logged

    def key_sets(
        self, signings: Sequence[ZoneSigning], now: datetime
    ) -> tuple[dict[bytes, ZoneKeySet], datetime | None]:
        """Each signed zone's keys at now, and the next moment that changes."""
        out: dict[bytes, ZoneKeySet] = {}
        upcoming: list[datetime] = []
        for signing in signings:
            policy = signing.policy
            origin = names.from_text(policy.zone)
            times = signing.times
            moment = next_change(times, now)
            if moment is not None:
                upcoming.append(moment)
            live = [k for k in times if k.phase_at(now) not in (Phase.SCHEDULED, Phase.REMOVED)]
            published = tuple(k.public for k in live)
            submitted = tuple(k.public for k in live if k.phase_at(now) is Phase.ACTIVE)
            keys, problem = self._zone_keys(signing, now)
            if problem is None:
                self._told.pop(policy.zone, None)
            elif self._told.get(policy.zone) != problem:
                self._told[policy.zone] = problem
                log.error(
                    "dnssec zone not signed on this node zone=%s: %s; DO queries for it get "
                    "SERVFAIL until this is fixed",
                    policy.zone,
                    problem,
                )
            out[origin] = ZoneKeySet(
                origin, published, submitted, policy.dnskey_ttl_s, keys, problem
            )
        return out, min(upcoming, default=None)

    def _zone_keys(self, signing: ZoneSigning, now: datetime) -> tuple[ZoneKeys | None, str | None]:
        if not self._secret:
            return None, "dnssec_key_secret is not set (GEODNS_DNSSEC_KEY_SECRET)"
        zone = names.from_text(signing.policy.zone)
        opened: dict[int, SigningKey] = {}
        for stored in signing.keys:
            times = stored.times
            if times.phase_at(now) in (Phase.SCHEDULED, Phase.REMOVED):
                continue
            key = self._opened.get((times.key_id, stored.sealed))
            if key is None:
                try:
                    key = open_key(self._secret, zone, stored)
                except (SealError, KeyMaterialError) as exc:
                    return None, f"key {times.public.tag}: {exc}"
                self._opened[(times.key_id, stored.sealed)] = key
            opened[times.key_id] = key
        keys = zone_keys_at(signing.times, opened, now)
        if keys is None:
            return None, "no key signs at this moment"
        return keys, None
