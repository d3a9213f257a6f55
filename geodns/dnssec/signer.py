"""ZoneSigner: one zone's keys, signing RRsets through a bounded signature cache.

Pure apart from the cache it keeps: no I/O, no awaits. The time comes in as an argument
(signatures are made for the week it falls in, rrsig.validity_at), so a test or a
snapshot build decides what "now" is. Entries are keyed by what the signature covers:
(signer keys, owner, type, TTL, the rdata as served, the window), so a rebuilt snapshot
finds the signatures of every RRset that did not change.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from geodns.dns import rdatatype
from geodns.dnssec.keys import SigningKey
from geodns.dnssec.rrsig import Validity, sign_rrset, validity_at

DEFAULT_MAX_ENTRIES = 200_000

CacheKey = tuple[int, bytes, int, int, tuple[bytes, ...], int]


class SignatureCache:
    """Signatures by what they cover, at most max_entries of them.

    Full, it forgets the oldest entry first: a flood of names that each need a new
    signature (random names under compact denial) costs CPU, never memory.
    """

    __slots__ = ("max_entries", "_entries", "_key_sets", "hits", "misses", "evictions")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("a signature cache needs room for at least one entry")
        self.max_entries = max_entries
        self._entries: dict[CacheKey, tuple[bytes, ...]] = {}
        self._key_sets: dict[tuple[bytes, ...], int] = {}  # DNSKEY rdatas -> a small id
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def key_set_id(self, keys: Sequence[SigningKey]) -> int:
        """A number standing for these keys in cache keys: the same keys, the same number."""
        rdatas = tuple(k.public.rdata for k in keys)
        return self._key_sets.setdefault(rdatas, len(self._key_sets))

    def get(self, key: CacheKey) -> tuple[bytes, ...] | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: CacheKey, rrsigs: tuple[bytes, ...]) -> None:
        entries = self._entries
        if key not in entries and len(entries) >= self.max_entries:
            del entries[next(iter(entries))]  # dicts keep insertion order: the oldest
            self.evictions += 1
        entries[key] = rrsigs

    def approximate_bytes(self) -> int:
        """Memory the cache itself holds: its table, key tuples and signatures (not the
        owner names and rdata, which the zone or the query holds anyway)."""
        total = sys.getsizeof(self._entries)
        for key, value in self._entries.items():
            total += sys.getsizeof(key) + sys.getsizeof(key[4]) + sys.getsizeof(value)
            total += sum(sys.getsizeof(s) for s in value)
        return total


@dataclass(frozen=True, slots=True)
class ZoneKeys:
    """The keys a zone signs with at one moment (geodns.dnssec.rollover decides which).

    signing sign every RRset; dnskey_only sign the DNSKEY RRset alone (a key the parent's
    DS still points at while a rollover waits for the DS to change); published are served
    in the DNSKEY RRset; submitted are the ones CDS/CDNSKEY offer the parent (RFC 7344).
    """

    signing: tuple[SigningKey, ...]
    dnskey_only: tuple[SigningKey, ...] = ()
    published: tuple[SigningKey, ...] = ()
    submitted: tuple[SigningKey, ...] = ()

    @property
    def all_signing(self) -> tuple[SigningKey, ...]:
        return self.signing + self.dnskey_only


class ZoneSigner:
    """Signs one zone's RRsets; every RRSIG names the zone apex as its signer."""

    __slots__ = ("origin", "keys", "cache")

    def __init__(self, origin: bytes, keys: ZoneKeys, cache: SignatureCache) -> None:
        if not keys.signing:
            raise ValueError("a zone signer needs at least one signing key")
        self.origin = origin
        self.keys = keys
        self.cache = cache

    def sign(
        self,
        owner: bytes,
        rtype: int,
        ttl: int,
        rdatas: Sequence[bytes],
        now_s: float,
        *,
        cache: SignatureCache | None = None,
    ) -> tuple[bytes, ...]:
        """The RRSIG rdatas covering the RRset, one per key that signs it, from cache (the
        signer's own unless another is given) or made now and kept there."""
        cache = cache if cache is not None else self.cache
        validity = validity_at(now_s)
        keys = self.keys.all_signing if rtype == rdatatype.DNSKEY else self.keys.signing
        # the keys' identity in cache keys: two signers with the same keys share entries
        key: CacheKey = (
            cache.key_set_id(keys),
            owner,
            rtype,
            ttl,
            tuple(rdatas),
            validity.inception,
        )
        found = cache.get(key)
        if found is not None:
            return found
        made = self.sign_uncached(keys, owner, rtype, ttl, rdatas, validity)
        cache.put(key, made)
        return made

    @staticmethod
    def validity(now_s: float) -> Validity:
        return validity_at(now_s)

    def sign_uncached(
        self,
        keys: Sequence[SigningKey],
        owner: bytes,
        rtype: int,
        ttl: int,
        rdatas: Sequence[bytes],
        validity: Validity,
    ) -> tuple[bytes, ...]:
        return tuple(sign_rrset(k, self.origin, owner, rtype, ttl, rdatas, validity) for k in keys)

    def dnskey_rdatas(self) -> tuple[bytes, ...]:
        """The apex DNSKEY RRset: every published key (RFC 4035 §2.1)."""
        return tuple(k.public.rdata for k in self.keys.published)

    def cdnskey_rdatas(self) -> tuple[bytes, ...]:
        """CDNSKEY (RFC 7344 §3.2): the keys the parent's DS should point at."""
        return tuple(k.public.rdata for k in self.keys.submitted)

    def cds_rdatas(self) -> tuple[bytes, ...]:
        """CDS (RFC 7344 §3.1): SHA-256 DS rdata of the keys the parent should point at."""
        return tuple(k.public.ds_rdata(self.origin) for k in self.keys.submitted)
