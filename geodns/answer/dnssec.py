"""secure(): what a validator needs added to the answer of a DO query (RFC 4035 §3.1).

Pure: no I/O, no clock (the snapshot fixes the signatures' week). After resolve() and
before compile_reply(): each authoritative RRset of a signed zone gets its RRSIG (the
drawn pool records get theirs at render time, looked up by the members drawn); a
referral gets the DS or the NSEC proving there is none; a wildcard answer gets the NSEC
proving the next closer name absent (RFC 4035 §3.1.3.3); a name without the data gets
compact denial (RFC 9824 §3): one NSEC owned by the name, naming its immediate
successor, its types in the bitmap, NXNAME if the name does not exist, and NOERROR
unless the query set CO. A zone this node cannot sign answers DO queries SERVFAIL.
"""

from __future__ import annotations

from geodns.answer.resolve import Answer, Item, Kind, refusal
from geodns.dns import names, rdatatype
from geodns.dns.edns import EDE_NOT_READY, ExtendedError
from geodns.dns.rcode import NOERROR, SERVFAIL
from geodns.dns.wire import Query
from geodns.dns.zone import WILDCARD_LABEL, Found, RRset, Zone, containing_zone
from geodns.dnssec.nsec import (
    compact_denial,
    next_sibling,
    nsec_rdata,
    predecessor,
    successor,
)
from geodns.dnssec.signed import SignedZone
from geodns.pools.compile import RECORD_TYPE
from geodns.snapshot import Snapshot

DELEGATION_TYPES = frozenset({rdatatype.NS, rdatatype.DS})  # RFC 4035 §2.3


def secure(answer: Answer, query: Query, snapshot: Snapshot) -> Answer:
    """answer with its DNSSEC records, for a query with DO set (RFC 3225 §3)."""
    signed = snapshot.signed
    if not signed or answer.kind is Kind.ERROR:
        return answer
    zones = snapshot.zones
    touched = {id(z): z for z in _zones_of(answer, snapshot) if z.origin in signed}
    for zone in touched.values():
        unavailable = signed[zone.origin].unavailable
        if unavailable is not None:
            # a validator would reject the unsigned answer (the parent's DS says signed):
            # a failure it retries elsewhere beats an answer it must throw away
            why = f"{zone.origin_text} cannot be signed here: {unavailable}"
            return refusal(SERVFAIL, ExtendedError(EDE_NOT_READY, why))
    covering: list[Item] = []
    answer.answer = _signed_items(answer.answer, snapshot, covering)
    if answer.pool is not None and answer.prepared is not None and answer.prepared.draw.size:
        pool_zone = containing_zone(zones, answer.pool.name_key)
        zone_signed = signed.get(pool_zone.origin) if pool_zone is not None else None
        if zone_signed is not None:
            member = answer.prepared.draw.members[0].member
            answer.pool_signatures = zone_signed.pool_signatures(
                answer.pool, RECORD_TYPE[member.family]
            )
    last_zone = answer.zone
    last_signed = signed.get(last_zone.origin) if last_zone is not None else None
    if answer.kind is Kind.REFERRAL:
        if last_zone is not None and last_signed is not None:
            answer.authority = _referral(answer.authority, last_zone, last_signed)
        return answer
    authority = _signed_items(answer.authority, snapshot, covering)
    if answer.kind in (Kind.NODATA, Kind.NXDOMAIN) and last_zone is not None and last_signed:
        owner = _last_name(answer, query)
        exists = answer.kind is Kind.NODATA
        types = _types_at(last_zone, owner, query.qtype, snapshot) if exists else frozenset()
        nsec = RRset(
            owner,
            rdatatype.NSEC,
            last_zone.negative_soa.ttl,  # RFC 9824 §3 (and RFC 9077): the negative TTL
            (nsec_rdata(successor(owner), compact_denial(types, exists=exists)),),
        )
        authority += _with_rrsig((owner, nsec), last_signed, denial=True)
        if not exists:
            # RFC 9824 §4: NXDOMAIN only for a client that asked for it with CO
            edns = query.edns
            answer.rcode = answer.rcode if edns is not None and edns.co else NOERROR
    answer.authority = authority + covering
    answer.additional = _signed_items(answer.additional, snapshot, None)
    return answer


def _zones_of(answer: Answer, snapshot: Snapshot) -> list[Zone]:
    zones = [answer.zone] if answer.zone is not None else []
    for _owner, rrset in answer.answer:
        zone = _signing_zone(rrset, snapshot)
        if zone is not None:
            zones.append(zone)
    if answer.pool is not None:
        zone = containing_zone(snapshot.zones, answer.pool.name_key)
        if zone is not None:
            zones.append(zone)
    return zones


def _signing_zone(rrset: RRset, snapshot: Snapshot) -> Zone | None:
    """The zone whose data rrset is: a DS is its parent's (RFC 4035 §2.4)."""
    name = names.parent(rrset.name) if rrset.rtype == rdatatype.DS else rrset.name
    return containing_zone(snapshot.zones, name)


def _authoritative(zone: Zone, rrset: RRset) -> bool:
    """Whether zone is authoritative for rrset: not at or below one of its delegations
    (the NS there, glue), but for the DS at one (RFC 4035 §2.2)."""
    name = rrset.name
    if rrset.rtype == rdatatype.DS and name in zone.cuts:
        return True
    return not any(names.is_subdomain(name, cut) for cut in zone.cuts)


def _with_rrsig(item: Item, zone_signed: SignedZone, *, denial: bool = False) -> list[Item]:
    owner, rrset = item
    rrsig = zone_signed.sign_denial(rrset) if denial else zone_signed.sign(rrset, owner)
    return [item] if rrsig is None else [item, (owner, rrsig)]


def _signed_items(items: list[Item], snapshot: Snapshot, covering: list[Item] | None) -> list[Item]:
    """Each item followed by its RRSIG when a signed zone is authoritative for it; for a
    wildcard expansion, the NSEC covering its next closer name goes to covering."""
    out: list[Item] = []
    for owner, rrset in items:
        zone = _signing_zone(rrset, snapshot)
        zone_signed = snapshot.signed.get(zone.origin) if zone is not None else None
        if zone is None or zone_signed is None or rrset.synthesised:
            out.append((owner, rrset))  # RFC 6672 §5.3.1: a DNAME's CNAME goes unsigned
            continue
        if not _authoritative(zone, rrset):
            out.append((owner, rrset))
            continue
        out += _with_rrsig((owner, rrset), zone_signed)
        if covering is not None and rrset.name.startswith(WILDCARD_LABEL) and owner != rrset.name:
            proof = _next_closer_proof(owner, rrset.name, zone, zone_signed)
            if proof[0] not in covering:
                covering += proof
    return out


def _next_closer_proof(
    qname: bytes, wildcard: bytes, zone: Zone, zone_signed: SignedZone
) -> list[Item]:
    """RFC 4035 §3.1.3.3: the NSEC covering the next closer name of a wildcard expansion,
    from its immediate predecessor to its next sibling (RFC 4470 §3): it denies that name
    and its subtree, which the lookup found empty, and nothing the zone holds."""
    depth = names.label_count(names.parent(wildcard)) + 1
    next_closer = qname
    while names.label_count(next_closer) > depth:
        next_closer = names.parent(next_closer)
    owner = predecessor(next_closer)
    nsec = RRset(
        owner,
        rdatatype.NSEC,
        zone.negative_soa.ttl,
        (nsec_rdata(next_sibling(next_closer), ()),),
    )
    return _with_rrsig((owner, nsec), zone_signed, denial=True)


def _referral(authority: list[Item], zone: Zone, zone_signed: SignedZone) -> list[Item]:
    """NS, then the DS RRset and its RRSIG, or the NSEC proving the delegation has no DS
    (RFC 4035 §3.1.4): a validator learns whether the child is signed."""
    (cut, ns), rest = authority[0], authority[1:]
    node = zone.nodes[cut]
    ds = node.rrsets.get(rdatatype.DS)
    if ds is not None:
        proof = _with_rrsig((cut, ds), zone_signed)
    else:
        nsec = RRset(
            cut,
            rdatatype.NSEC,
            zone.negative_soa.ttl,
            (nsec_rdata(successor(cut), {rdatatype.NS}),),
        )
        proof = _with_rrsig((cut, nsec), zone_signed, denial=True)
    return [(cut, ns), *proof, *rest]


def _last_name(answer: Answer, query: Query) -> bytes:
    """The name the answer ends at: the query name, or the last CNAME's target."""
    name = query.qname
    for _owner, rrset in answer.answer:
        if rrset.rtype == rdatatype.CNAME:
            name = rrset.rdatas[0].lower()
    return name


def _types_at(zone: Zone, name: bytes, qtype: int, snapshot: Snapshot) -> frozenset[int]:
    """The types a NODATA's NSEC lists at name: what is there, never the type asked for."""
    found = zone.lookup(name, qtype)
    node = found.node
    if node is None:
        return frozenset()
    types = set(node.rrsets)
    if name in zone.cuts:
        types &= DELEGATION_TYPES  # RFC 4035 §2.3: only what the parent is authoritative for
    pool = snapshot.pools.get(name) if found.found is Found.EXACT else None
    if pool is not None:
        types |= {RECORD_TYPE[family] for family in pool.families}
    types.discard(qtype)
    types -= {rdatatype.RRSIG, rdatatype.NSEC, rdatatype.NSEC3}
    return frozenset(types)
