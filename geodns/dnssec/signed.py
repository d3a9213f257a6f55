"""SignedZone: what a snapshot holds to sign one zone's answers, and pool signature tables.

Pure apart from the tables it fills: no I/O, no awaits, no clock (the snapshot's build
time fixes the validity window of everything signed while it serves). A pool's answer
is whichever members the draw picks; PoolSignatures keeps the RRSIG of each drawn set
by the set's member mask, so a reply looks its signature up by what was drawn (the form
a native loop can execute too), signing on a miss.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from geodns.dns import rdataclass, rdatatype
from geodns.dns.zone import RRset
from geodns.dnssec.keys import PublicKey
from geodns.dnssec.signer import SignatureCache, ZoneSigner
from geodns.pools.compile import CompiledMember, CompiledPool

MAX_DRAWN_SETS = 4096  # per pool and type: a pool of many members cannot grow it further


def rrsig_tail(ttl: int, rdata: bytes) -> bytes:
    """TYPE CLASS TTL RDLENGTH RDATA of an RRSIG record (RFC 4034 §3: its TTL is the
    covered RRset's)."""
    return struct.pack("!HHIH", rdatatype.RRSIG, rdataclass.IN, ttl, len(rdata)) + rdata


def member_mask(members: Iterable[CompiledMember]) -> int:
    """The drawn set as a bit mask of member indices: the signature table's key."""
    mask = 0
    for member in members:
        mask |= 1 << member.index
    return mask


class PoolSignatures:
    """The RRSIGs of one pool's answers of one type, by the set of members drawn.

    Compact: the RRSIG record tails (TYPE onwards) of every set signed so far sit in one
    bytearray, a slot of record_size octets per set (one tail per signing key, each of
    tail_size octets, whatever is drawn), and by_mask gives a set's slot; at 100,000
    pools a tuple of bytes objects per set cost twice the signatures' own size (see
    bench/RESULTS.md, DNSSEC). The native loop is handed the same bytes. One table
    serves every reply of the pool while the snapshot lives (and the next snapshots too,
    while the pool, keys and week stay the same). Bounded: full, it reuses the slot of
    its oldest set.
    """

    __slots__ = (
        "signer",
        "pool",
        "owner",
        "rtype",
        "ttl",
        "now_s",
        "by_mask",
        "blob",
        "tail_size",
        "count",
        "record_size",
    )

    def __init__(self, signer: ZoneSigner, pool: CompiledPool, rtype: int, now_s: float) -> None:
        self.signer = signer
        self.pool = pool  # the compiled pool whose member indices the masks use
        self.owner = pool.name_key
        self.rtype = rtype
        self.ttl = pool.pool.ttl
        self.now_s = now_s
        self.by_mask: dict[int, int] = {}  # member mask -> slot; insertion order is age
        self.blob = bytearray()
        keys = signer.keys.signing
        self.count = len(keys)  # RRSIG records per answer: one per signing key
        # every RRSIG of one key has the same length: 18 fixed octets, the signer, 64 octets
        self.tail_size = 10 + 18 + len(signer.origin) + 64
        self.record_size = self.count * self.tail_size

    def slot(self, members: Sequence[CompiledMember]) -> int:
        """The offset in blob of this drawn set's RRSIG tails (signed now if never seen)."""
        mask = member_mask(members)
        found = self.by_mask.get(mask)
        if found is None:
            found = self._sign(mask, members)
        return found * self.record_size

    def tails(self, members: Sequence[CompiledMember]) -> tuple[bytes, ...]:
        """The RRSIG record tails for this drawn set, one per signing key."""
        at, size = self.slot(members), self.tail_size
        blob = self.blob
        return tuple(bytes(blob[at + i * size : at + (i + 1) * size]) for i in range(self.count))

    def records(self, members: Sequence[CompiledMember], owner: bytes) -> list[bytes]:
        """The RRSIG records of this drawn set as a reply carries them, owned by owner."""
        at = self.slot(members)
        if self.count == 1:
            return [owner + self.blob[at : at + self.tail_size]]
        return [owner + tail for tail in self.tails(members)]

    def _sign(self, mask: int, members: Sequence[CompiledMember]) -> int:
        rdatas = [m.tail[10:] for m in members]  # after TYPE CLASS TTL RDLENGTH
        signed = self.signer.sign_uncached(
            self.signer.keys.signing,
            self.owner,
            self.rtype,
            self.ttl,
            rdatas,
            self.signer.validity(self.now_s),
        )
        record = b"".join(rrsig_tail(self.ttl, rdata) for rdata in signed)
        if len(record) != self.record_size:
            raise ValueError(f"an RRSIG of {len(record)} octets, not {self.record_size}")
        by_mask = self.by_mask
        if len(by_mask) >= MAX_DRAWN_SETS:
            slot = by_mask.pop(next(iter(by_mask)))  # the oldest set's slot, reused
            at = slot * self.record_size
            self.blob[at : at + self.record_size] = record
        else:
            slot = len(by_mask)
            self.blob += record
        by_mask[mask] = slot
        return slot

    def precompute(self, sets: Iterable[Sequence[CompiledMember]], budget: int) -> int:
        """Sign up to budget of these drawn sets not signed yet; returns how many it signed."""
        made = 0
        for members in sets:
            if made >= budget:
                break
            mask = member_mask(members)
            if mask not in self.by_mask:
                self._sign(mask, members)
                made += 1
        return made


def drawable_sets(
    pool: CompiledPool, family: int, limit: int
) -> list[tuple[CompiledMember, ...]] | None:
    """Every member set a draw of this family can return, or None when there are more
    than limit of them (then they are signed on first use).

    A draw returns min(max_answers, usable) members of one group's eligible members,
    whatever the health, policy or rotation: every subset of 1..max_answers of them.
    """
    sets: dict[int, tuple[CompiledMember, ...]] = {}
    for (_region, group_family), group in pool.groups.items():
        if group_family != family:
            continue
        eligible = group.eligible
        for size in range(1, min(pool.max_answers, len(eligible)) + 1):
            for chosen in combinations(eligible, size):
                sets.setdefault(member_mask(chosen), chosen)
                if len(sets) > limit:
                    return None
    return list(sets.values())


@dataclass(frozen=True, slots=True)
class SignedZone:
    """A zone geodns signs, as one snapshot serves it.

    signer is None when this node cannot sign it (no dnssec_key_secret, or not the one
    the keys were sealed with): unavailable says why, and DO queries get SERVFAIL
    rather than answers a validator would reject (see README, DNSSEC). pools is shared
    by the snapshots of one signing epoch (keys and week): a table is found again while
    its pool's compiled form is the same object.
    """

    origin: bytes
    signer: ZoneSigner | None
    now_s: float  # the time every signature of this snapshot is made for
    denial: SignatureCache  # compact-denial and wildcard NSEC signatures: per query name
    unavailable: str | None = None
    pools: dict[tuple[bytes, int], PoolSignatures] = field(default_factory=dict)

    def sign(self, rrset: RRset, owner: bytes | None = None) -> RRset | None:
        """The RRSIG RRset covering rrset (owned by owner, default its own name)."""
        signer = self.signer
        if signer is None:
            return None
        rdatas = signer.sign(rrset.name, rrset.rtype, rrset.ttl, rrset.rdatas, self.now_s)
        return RRset(owner if owner is not None else rrset.name, rdatatype.RRSIG, rrset.ttl, rdatas)

    def sign_denial(self, rrset: RRset) -> RRset | None:
        """As sign(), through the cache of synthesised NSEC records: a flood of random
        names pushes out only those, never the zone's own signatures."""
        signer = self.signer
        if signer is None:
            return None
        rdatas = signer.sign(
            rrset.name, rrset.rtype, rrset.ttl, rrset.rdatas, self.now_s, cache=self.denial
        )
        return RRset(rrset.name, rdatatype.RRSIG, rrset.ttl, rdatas)

    def pool_signatures(self, pool: CompiledPool, rtype: int) -> PoolSignatures | None:
        """The signature table of pool's answers of rtype (a new one for a changed pool)."""
        signer = self.signer
        if signer is None:
            return None
        key = (pool.name_key, rtype)
        table = self.pools.get(key)
        if table is None or table.pool is not pool:
            table = self.pools[key] = PoolSignatures(signer, pool, rtype, self.now_s)
        return table


def apex_key_rrsets(
    origin: bytes,
    published: Sequence[PublicKey],
    submitted: Sequence[PublicKey],
    ttl: int,
) -> list[RRset]:
    """DNSKEY (RFC 4034 §2), CDS and CDNSKEY (RFC 7344 §3) at the apex, from the keys'
    phases; CDS/CDNSKEY name the keys the parent's DS should point at."""
    rrsets = [RRset(origin, rdatatype.DNSKEY, ttl, tuple(k.rdata for k in published))]
    if submitted:
        rrsets.append(
            RRset(origin, rdatatype.CDS, ttl, tuple(k.ds_rdata(origin) for k in submitted))
        )
        rrsets.append(RRset(origin, rdatatype.CDNSKEY, ttl, tuple(k.rdata for k in submitted)))
    return rrsets
