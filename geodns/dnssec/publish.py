"""SigningBuilder: the DNSSEC part of a snapshot build, redone only where something changed.

Pure: no I/O, and the time comes in as an argument. For each signed zone it gives the
apex its DNSKEY, CDS and CDNSKEY RRsets and the snapshot its SignedZone, and signs ahead
of the queries: every authoritative RRset of a zone it has not seen, and every member set
a new or changed pool's draw can return when there are few of them. That work is
bounded per build (BUILD_BUDGET); what is left waits for precompute(), which the control
plane calls between other work, and whatever a query needs first is signed then (first
use). Signatures are kept across builds for one signing epoch (the same keys in the same
week), so a rebuild after one pool's change signs only what that change made new.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from geodns.dns import names, rdatatype
from geodns.dns.zone import RRset, Zone, containing_zone
from geodns.dnssec.keys import PublicKey
from geodns.dnssec.rrsig import validity_at
from geodns.dnssec.signed import PoolSignatures, SignedZone, apex_key_rrsets, drawable_sets
from geodns.dnssec.signer import SignatureCache, ZoneKeys, ZoneSigner
from geodns.pools.compile import RECORD_TYPE, CompiledPool
from geodns.pools.model import Pool

log = logging.getLogger(__name__)

BUILD_BUDGET = 2000  # signatures made inside one build (~0.1 s); the rest by precompute()
PRECOMPUTE_SETS = 64  # a pool family with at most this many drawable sets is signed ahead
DENIAL_CACHE_ENTRIES = 50_000
KEY_TYPES = frozenset({rdatatype.DNSKEY, rdatatype.CDS, rdatatype.CDNSKEY})
# types a zone file must not bring into a zone geodns signs online: they would be stale
ONLINE_TYPES = frozenset({rdatatype.RRSIG, rdatatype.NSEC, rdatatype.NSEC3, *KEY_TYPES})


@dataclass(frozen=True, slots=True)
class ZoneKeySet:
    """What the control plane hands over for one signed zone, at one moment."""

    origin: bytes
    published: tuple[PublicKey, ...]  # the DNSKEY RRset
    submitted: tuple[PublicKey, ...]  # CDS / CDNSKEY: what the parent's DS should be
    dnskey_ttl: int
    keys: ZoneKeys | None  # None: this node cannot sign; unavailable says why
    unavailable: str | None = None


class ServedPools(Protocol):
    """The snapshot's pools (geodns.snapshot.ServedPools): compiled when first asked for."""

    def get(self, key: bytes, default: CompiledPool | None = None) -> CompiledPool | None: ...

    def sources(self) -> Mapping[bytes, Pool]: ...


class SigningBuilder:
    """The signing state of one process across snapshot builds; the control plane's alone."""

    def __init__(
        self, cache: SignatureCache | None = None, build_budget: int = BUILD_BUDGET
    ) -> None:
        self.cache = cache if cache is not None else SignatureCache()
        self.build_budget = build_budget
        self.denial = SignatureCache(DENIAL_CACHE_ENTRIES)
        self._key_sets: dict[bytes, ZoneKeySet] = {}
        self._epoch: tuple[int, ...] = ()  # (inception,) of the signers below
        self._zones: dict[bytes, SignedZone] = {}  # origin -> the epoch's SignedZone
        self._seen_zones: dict[bytes, Zone] = {}  # what was queued for signing ahead
        self._seen_pools: Mapping[bytes, Pool] = {}
        self._pending: deque[Iterator[int]] = deque()
        self._warned: set[bytes] = set()

    @property
    def origins(self) -> frozenset[bytes]:
        """The zones being signed (or meant to be: unavailable ones included)."""
        return frozenset(self._key_sets)

    def set_keys(self, key_sets: Mapping[bytes, ZoneKeySet]) -> bool:
        """Sign these zones with these keys from the next build; True when that changes
        anything a snapshot serves."""
        if dict(key_sets) == self._key_sets:
            return False
        self._key_sets = dict(key_sets)
        self._epoch = ()  # new keys: a new epoch, everything signed again
        return True

    def apex_rrsets(self, origin: bytes) -> list[RRset]:
        """The DNSKEY, CDS and CDNSKEY RRsets a signed zone's apex serves (none if unsigned).

        Served to every query that asks for them, DO or not (RFC 3225 §3)."""
        key_set = self._key_sets.get(origin)
        if key_set is None:
            return []
        return apex_key_rrsets(origin, key_set.published, key_set.submitted, key_set.dnskey_ttl)

    def build(
        self,
        zones: Mapping[bytes, Zone],
        pools: ServedPools,
        now_s: float,
    ) -> dict[bytes, SignedZone]:
        """Each signed zone's SignedZone for a snapshot of zones and pools made at now_s."""
        epoch = (validity_at(now_s).inception,)
        if epoch != self._epoch:
            self._new_epoch(epoch, now_s)
        signed: dict[bytes, SignedZone] = {}
        for origin, zone_signed in self._zones.items():
            zone = zones.get(origin)
            if zone is None:
                continue
            signed[origin] = zone_signed
            if self._seen_zones.get(origin) is not zone and zone_signed.signer is not None:
                self._seen_zones[origin] = zone
                self._pending.append(_zone_work(zone_signed, zone))
                self._warn_file_records(zone)
        sources = pools.sources()
        if sources is not self._seen_pools:
            # the pools new or changed since the last build (identity: a Pool is replaced,
            # never changed); each is compiled when its signing ahead runs, not here
            seen, self._seen_pools = self._seen_pools, sources
            for key, pool in sources.items():
                if seen.get(key) is not pool:
                    zone = containing_zone(zones, key)
                    owner = signed.get(zone.origin) if zone is not None else None
                    if owner is not None and owner.signer is not None:
                        self._pending.append(_pool_work(owner, pools, key))
        self.precompute(self.build_budget)
        return signed

    def precompute(self, budget: int) -> int:
        """Sign ahead up to about budget signatures of what builds left; returns how many."""
        made = 0
        pending = self._pending
        while pending and made < budget:
            for count in pending[0]:
                made += count
                if made >= budget:
                    break
            else:
                pending.popleft()
        return made

    @property
    def pending(self) -> bool:
        """Whether builds left signing ahead to do."""
        return bool(self._pending)

    def _new_epoch(self, epoch: tuple[int, ...], now_s: float) -> None:
        self._epoch = epoch
        self._zones = {}
        for origin, key_set in self._key_sets.items():
            if key_set.keys is None:
                reason = key_set.unavailable or "the zone's keys are not available here"
                self._zones[origin] = SignedZone(origin, None, now_s, self.denial, reason)
            else:
                signer = ZoneSigner(origin, key_set.keys, self.cache)
                self._zones[origin] = SignedZone(origin, signer, now_s, self.denial)
        self._seen_zones = {}
        self._seen_pools = {}
        self._pending.clear()

    def _warn_file_records(self, zone: Zone) -> None:
        if zone.origin in self._warned:
            return
        apex = zone.nodes[zone.origin].rrsets
        found = sorted(
            t
            for node in zone.nodes.values()
            for t in node.rrsets
            if t in ONLINE_TYPES and not (node.rrsets is apex and t in KEY_TYPES)
        )
        if found:
            self._warned.add(zone.origin)
            log.warning(
                "zone file records not signed in a signed zone zone=%s types=%s: geodns "
                "signs online and makes these itself; remove them from the file",
                zone.origin_text,
                ",".join(sorted({rdatatype.to_text(t) for t in found})),
            )


def _pool_work(zone_signed: SignedZone, pools: ServedPools, key: bytes) -> Iterator[int]:
    pool = pools.get(key)
    if pool is None:
        return
    for family in sorted(pool.families):
        sets = drawable_sets(pool, family, PRECOMPUTE_SETS)
        if sets is None:
            continue  # too many to sign ahead: each is signed the first time it is drawn
        table: PoolSignatures | None = zone_signed.pool_signatures(pool, RECORD_TYPE[family])
        if table is None:
            return
        for members in sets:
            yield table.precompute((members,), 1)


def _zone_work(zone_signed: SignedZone, zone: Zone) -> Iterator[int]:
    signer = zone_signed.signer
    assert signer is not None
    cache = signer.cache
    for rrset in authoritative_rrsets(zone):
        before = cache.misses
        zone_signed.sign(rrset)
        yield cache.misses - before


def authoritative_rrsets(zone: Zone) -> Iterator[RRset]:
    """The RRsets a zone signs (RFC 4035 §2.2): all it is authoritative for, so not the NS
    at a delegation nor anything below one (glue), but the DS there; nor the types a
    zone file must not bring (RRSIG, NSEC, NSEC3)."""
    cuts = zone.cuts
    for name, node in zone.nodes.items():
        if cuts and name not in cuts and any(names.is_subdomain(name, c) for c in cuts):
            continue
        for rtype, rrset in node.rrsets.items():
            if name in cuts and rtype != rdatatype.DS:
                continue
            if rtype in ONLINE_TYPES and rtype not in KEY_TYPES:
                continue
            yield rrset
