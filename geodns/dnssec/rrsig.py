"""RRSIG rdata built by hand (RFC 4034 §3) over fixed validity windows every node agrees on.

Pure: no I/O; the caller passes the time. A signature's window depends only on the week
it is made in, so two nodes signing the same RRset with the same key in the same week
produce the same RRSIG, and a cached signature stays right for the whole week.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from geodns.dnssec.canonical import canonical_rdatas, label_count, lower_name, rrset_wire
from geodns.dnssec.keys import SigningKey

DAY_S = 86400
WEEK_S = 7 * DAY_S
MONDAY_S = 4 * DAY_S  # 1970-01-01 was a Thursday: weeks start on Mondays, 00:00 UTC
_RRSIG_FIXED = struct.Struct("!HBBIIIH")


@dataclass(frozen=True, slots=True)
class Validity:
    """Signature inception and expiration, Unix seconds (RFC 4034 §3.1.5)."""

    inception: int
    expiration: int


def validity_at(now_s: float) -> Validity:
    """The window for signatures made at now_s: from the Monday 00:00 UTC a week before this
    week's Monday to three weeks after that. Inception is at least a week in the past (clock
    skew between nodes and validators), expiration at least a week ahead, so a signature
    handed out just before the week turns outlives the caching of any usual TTL (a
    validator caps a longer one at the expiration, RFC 4035 §5.3.3)."""
    week_start = (int(now_s) - MONDAY_S) // WEEK_S * WEEK_S + MONDAY_S
    inception = week_start - WEEK_S
    return Validity(inception, inception + 3 * WEEK_S)


def next_week_start(now_s: float) -> float:
    """When the next week's signatures begin (Monday 00:00 UTC): snapshots are rebuilt then."""
    return float(validity_at(now_s).inception + 2 * WEEK_S)


def rrsig_head(
    covered: int,
    key: SigningKey,
    labels: int,
    original_ttl: int,
    validity: Validity,
    signer: bytes,
) -> bytes:
    """RRSIG rdata up to the signature field: what is signed before the RRset itself."""
    public = key.public
    return _RRSIG_FIXED.pack(
        covered,
        public.algorithm,
        labels,
        original_ttl,
        validity.expiration & 0xFFFFFFFF,  # RFC 4034 §3.1.5: serial arithmetic, 32 bits
        validity.inception & 0xFFFFFFFF,
        public.tag,
    ) + lower_name(signer)


def sign_rrset(
    key: SigningKey,
    signer: bytes,
    owner: bytes,
    rtype: int,
    ttl: int,
    rdatas: Sequence[bytes],
    validity: Validity,
) -> bytes:
    """The RRSIG rdata covering (owner, rtype, ttl, rdatas), RFC 4034 §3.1.8.1.

    owner is the name the RRset is stored under: "*.example." for a wildcard, whose Labels
    field then lets a validator check any expansion of it (RFC 4035 §5.3.2).
    """
    head = rrsig_head(rtype, key, label_count(owner), ttl, validity, signer)
    signed = head + rrset_wire(owner, rtype, ttl, canonical_rdatas(rtype, list(rdatas)))
    return head + key.sign(signed)
