"""A zone's keys over time: which key is published, signs, or waits, at a given moment.

Pure: no I/O; the caller passes the time. Every node computes the same roles from the
same stored times, so no node has to tell the others that a step happened. A CSK
rollover (RFC 6781 §4.1.1.1 pre-publication, for a key that is also the parent's DS
target; RFC 7583 §3.3 timings) runs in three steps:

1. pre-publish: the new key joins the DNSKEY RRset (and signs that RRset too, so a parent
   that switches its DS early breaks nothing); the old key signs the data;
2. switch, once every cache holds the new DNSKEY RRset (DNSKEY TTL + propagation delay):
   the new key signs the data and is offered to the parent in CDS/CDNSKEY; the old key
   still signs the DNSKEY RRset, so the parent's old DS keeps validating;
3. the operator confirms that the parent serves the new DS (`rollover --ds-replaced`);
   after the parent's DS TTL (or the DNSKEY TTL, if longer) plus the propagation delay,
   the old key leaves the DNSKEY RRset.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from geodns.dnssec.keys import Algorithm, PublicKey, SigningKey
from geodns.dnssec.signer import ZoneKeys
from geodns.errors import Conflict

DEFAULT_DNSKEY_TTL_S = 3600
DEFAULT_PROPAGATION_DELAY_S = 300  # every node of the cluster serves a change well within
DEFAULT_PARENT_DS_TTL_S = 86400  # what most top-level domains give their DS records


class RolloverRefused(Conflict):
    """A key operation that would break validation, or is not possible in this state."""


class Phase(enum.StrEnum):
    SCHEDULED = "scheduled"  # not yet published
    PUBLISHED = "published"  # in the DNSKEY RRset, not signing data yet
    ACTIVE = "active"  # signs every RRset; offered to the parent as CDS/CDNSKEY
    RETIRED = "retired"  # signs the DNSKEY RRset only, until the parent's DS moves on
    REMOVED = "removed"  # gone from the zone


@dataclass(frozen=True, slots=True)
class Policy:
    """How a zone is signed; chosen at `dnssec enable`."""

    zone: str  # fully qualified, lowercase, with the trailing dot
    algorithm: Algorithm
    dnskey_ttl_s: int = DEFAULT_DNSKEY_TTL_S
    propagation_delay_s: int = DEFAULT_PROPAGATION_DELAY_S
    parent_ds_ttl_s: int = DEFAULT_PARENT_DS_TTL_S

    @property
    def publish_wait(self) -> timedelta:
        """Pre-publish to switch: every cached DNSKEY RRset has the new key by then."""
        return timedelta(seconds=self.dnskey_ttl_s + self.propagation_delay_s)

    @property
    def removal_wait(self) -> timedelta:
        """DS confirmed to removal: no cache holds the old DS (or old DNSKEY RRset)."""
        longest = max(self.parent_ds_ttl_s, self.dnskey_ttl_s)
        return timedelta(seconds=longest + self.propagation_delay_s)


@dataclass(frozen=True, slots=True)
class KeyTimes:
    """One key's schedule as stored; None: not scheduled (yet)."""

    key_id: int  # the store's id
    public: PublicKey
    publish_at: datetime
    active_at: datetime
    retire_at: datetime | None = None
    remove_at: datetime | None = None

    def phase_at(self, now: datetime) -> Phase:
        if self.remove_at is not None and now >= self.remove_at:
            return Phase.REMOVED
        if self.retire_at is not None and now >= self.retire_at:
            return Phase.RETIRED
        if now >= self.active_at:
            return Phase.ACTIVE
        if now >= self.publish_at:
            return Phase.PUBLISHED
        return Phase.SCHEDULED


def zone_keys_at(
    times: Iterable[KeyTimes], opened: Mapping[int, SigningKey], now: datetime
) -> ZoneKeys | None:
    """The ZoneKeys to sign with at now (opened: private keys by key id); None when no key
    signs data at now."""
    signing: list[SigningKey] = []
    dnskey_only: list[SigningKey] = []
    published: list[SigningKey] = []
    for key in sorted(times, key=lambda k: k.key_id):
        phase = key.phase_at(now)
        if phase in (Phase.SCHEDULED, Phase.REMOVED):
            continue
        signing_key = opened[key.key_id]
        published.append(signing_key)
        if phase is Phase.ACTIVE:
            signing.append(signing_key)
        else:
            dnskey_only.append(signing_key)
    if not signing:
        return None
    return ZoneKeys(tuple(signing), tuple(dnskey_only), tuple(published), tuple(signing))


def next_change(times: Iterable[KeyTimes], now: datetime) -> datetime | None:
    """The next moment a key changes phase after now: when the snapshot must be rebuilt."""
    moments = [
        moment
        for key in times
        for moment in (key.publish_at, key.active_at, key.retire_at, key.remove_at)
        if moment is not None and moment > now
    ]
    return min(moments, default=None)


def first_key(key_id: int, public: PublicKey, now: datetime) -> KeyTimes:
    """The key `dnssec enable` makes: published and signing at once (the parent has no DS
    yet, so no validator expects a signature before it is there)."""
    return KeyTimes(key_id, public, now, now)


def _in_rollover(times: Sequence[KeyTimes], now: datetime) -> bool:
    live = [k for k in times if k.phase_at(now) is not Phase.REMOVED]
    return (
        len(live) != 1
        or live[0].phase_at(now) is not Phase.ACTIVE
        or (live[0].retire_at is not None)
    )


def algorithm_change_refusal(policy: Policy, algorithm: Algorithm) -> str:
    return (
        f"zone {policy.zone} is signed with algorithm {int(policy.algorithm)} "
        f"({policy.algorithm.name}); changing to {int(algorithm)} ({algorithm.name}) is an "
        "algorithm rollover (RFC 6781 §4.1.4: sign every RRset with both algorithms "
        "before the new DNSKEY is published, remove the old algorithm's signatures last), "
        "which geodns does not perform: roll within the same algorithm"
    )


def check_rollover(
    policy: Policy, times: Sequence[KeyTimes], algorithm: Algorithm | None, now: datetime
) -> KeyTimes:
    """The key that a new rollover replaces; RolloverRefused when one cannot start now."""
    if algorithm is not None and algorithm != policy.algorithm:
        raise RolloverRefused(algorithm_change_refusal(policy, algorithm))
    if _in_rollover(times, now):
        raise RolloverRefused(
            f"zone {policy.zone} is in a rollover already: see `geodns dnssec status "
            f"{policy.zone}` for its next step"
        )
    return next(k for k in times if k.phase_at(now) is Phase.ACTIVE)


def start_rollover(
    policy: Policy, old: KeyTimes, new_id: int, new_public: PublicKey, now: datetime
) -> tuple[KeyTimes, KeyTimes]:
    """(old key, new key) with step 1 and 2 scheduled: new published now, switch later."""
    switch = now + policy.publish_wait
    return replace(old, retire_at=switch), KeyTimes(new_id, new_public, now, switch)


def confirm_ds_replaced(policy: Policy, times: Sequence[KeyTimes], now: datetime) -> KeyTimes:
    """The retired key with its removal scheduled (step 3); RolloverRefused before the switch
    or outside a rollover."""
    retired = [k for k in times if k.phase_at(now) is Phase.RETIRED and k.remove_at is None]
    if not retired:
        waiting = [k for k in times if k.phase_at(now) is Phase.PUBLISHED]
        if waiting:
            raise RolloverRefused(
                f"zone {policy.zone}: key {waiting[0].public.tag} signs from "
                f"{waiting[0].active_at.isoformat(timespec='seconds')}; the parent's DS "
                "must not move to it before then"
            )
        raise RolloverRefused(
            f"zone {policy.zone} has no key waiting for the parent's DS to change"
        )
    return replace(retired[0], remove_at=now + policy.removal_wait)


@dataclass(frozen=True, slots=True)
class KeyState:
    """One key as `dnssec status` shows it."""

    times: KeyTimes
    phase: Phase


@dataclass(frozen=True, slots=True)
class Status:
    """Where a zone's keys are, and what happens next (and who must act)."""

    policy: Policy
    keys: tuple[KeyState, ...]
    step: str  # "signed", "pre-publish", "switched", "removing"
    next_step: str
    next_at: datetime | None


def zone_status(policy: Policy, times: Sequence[KeyTimes], now: datetime) -> Status:
    states = tuple(KeyState(k, k.phase_at(now)) for k in sorted(times, key=lambda k: k.key_id))
    by_phase = {s.phase: s.times for s in states}
    zone = policy.zone
    at = next_change(times, now)
    if Phase.PUBLISHED in by_phase or Phase.SCHEDULED in by_phase:
        new = by_phase.get(Phase.PUBLISHED) or by_phase[Phase.SCHEDULED]
        return Status(
            policy,
            states,
            "pre-publish",
            f"key {new.public.tag} starts signing at {new.active_at.isoformat(timespec='seconds')}"
            " (DNSKEY TTL + propagation delay after it was published); nothing to do",
            at,
        )
    if Phase.RETIRED in by_phase:
        old = by_phase[Phase.RETIRED]
        if old.remove_at is None:
            return Status(
                policy,
                states,
                "switched",
                f"replace the parent's DS for {zone} with the one `geodns dnssec ds {zone}` "
                "prints (the CDS record offers it too), then run "
                f"`geodns dnssec rollover {zone} --ds-replaced`",
                at,
            )
        return Status(
            policy,
            states,
            "removing",
            f"key {old.public.tag} leaves the DNSKEY RRset at "
            f"{old.remove_at.isoformat(timespec='seconds')}; nothing to do",
            at,
        )
    return Status(
        policy, states, "signed", "none: `geodns dnssec rollover` starts a key rollover", at
    )
