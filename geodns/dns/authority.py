"""(QueryContext, Snapshot) -> Answer: the authoritative algorithm of RFC 1034 §4.3.2.

Pure: no I/O, no awaits. Finds the zone, walks to the name, and returns what the
reply holds: positive answers, CNAME chains inside our zones, wildcard synthesis
(RFC 4592), referrals at zone cuts, NODATA / NXDOMAIN with the SOA (RFC 2308), and
pool answers chosen per client. encode.py turns the Answer into bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from geodns.dns import names
from geodns.dns.query import ClientNetwork, QueryContext
from geodns.dns.zone import (
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_CNAME,
    TYPE_NS,
    Found,
    Node,
    RRset,
    Zone,
)
from geodns.pools.compile import CompiledPool
from geodns.pools.select import Client, select
from geodns.snapshot import Snapshot, containing_zone

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16  # RFC 6891 §6.1.3: 12-bit RCODE, upper 8 bits in the OPT record
CLASS_IN, CLASS_ANY = 1, 255
TYPE_OPT, TYPE_IXFR, TYPE_AXFR = 41, 251, 252
MAX_CNAME_CHAIN = 8  # hops followed inside our zones before we stop and answer what we have

Item = tuple[bytes, tuple[bytes, ...]]  # (owner key, record tails): one RRset in a section


@dataclass(slots=True)
class Answer:
    rcode: int = NOERROR
    aa: bool = True
    answer: list[Item] = field(default_factory=list)
    authority: list[Item] = field(default_factory=list)
    additional: list[Item] = field(default_factory=list)
    required_additional: int = 0  # leading additional items that must fit or TC (RFC 9471 §3)
    scope_prefix: int | None = None  # ECS scope (RFC 7871 §7.2.1); None: 0
    pool: str | None = None  # the pool that decided, for metrics and logs


def refusal(rcode: int) -> Answer:
    return Answer(rcode=rcode, aa=False)


def resolve(ctx: QueryContext, snapshot: Snapshot, rng: random.Random) -> Answer:
    """The Answer for one query, read from one snapshot."""
    query = ctx.query
    edns = query.edns
    if edns is not None and edns.version > 0:
        return refusal(BADVERS)  # RFC 6891 §6.1.3, before anything else is looked at
    if query.opcode != 0:
        return refusal(NOTIMP)  # RFC 1035 §4.1.1: only QUERY is implemented
    qtype = query.qtype
    if qtype == TYPE_OPT:
        return refusal(FORMERR)  # RFC 6891 §6.1.1: OPT is a pseudo-RR, never a question
    if query.qclass not in (CLASS_IN, CLASS_ANY):
        return refusal(REFUSED)  # CH, HS: no data here; RFC 8906 §3.1.4 wants an answer
    if qtype in (TYPE_AXFR, TYPE_IXFR):
        return refusal(REFUSED)  # zone transfers are not offered (RFC 5936 §4.2)
    zone = containing_zone(snapshot.zones, query.qname)
    if zone is None:
        return refusal(REFUSED)  # not ours: no recursion, no upward referral (RFC 8906 §3.1.4)
    answer = Answer()
    answer_from_zone(answer, ctx, snapshot, zone, query.qname, qtype, rng)
    return answer


def answer_from_zone(
    answer: Answer,
    ctx: QueryContext,
    snapshot: Snapshot,
    zone: Zone,
    qname: bytes,
    qtype: int,
    rng: random.Random,
) -> None:
    seen: set[bytes] = set()
    for _ in range(MAX_CNAME_CHAIN + 1):
        seen.add(qname)
        result = zone.lookup(qname, qtype)
        if result.found is Found.DELEGATION:
            assert result.node is not None
            refer(answer, zone, result.node)
            return
        if result.found is Found.NXDOMAIN:
            # RFC 6604 §3: after a CNAME the RCODE describes the last name in the chain
            answer.rcode = NXDOMAIN
            answer.authority.append(negative_soa(zone))
            return
        node = result.node
        assert node is not None
        pool = snapshot.pools.get(qname) if result.found is Found.EXACT else None
        if pool is not None and qtype in (TYPE_A, TYPE_AAAA, TYPE_ANY):
            if answer_pool(answer, ctx, snapshot, zone, qname, qtype, rng):
                return
            if qtype != TYPE_ANY:
                answer.authority.append(negative_soa(zone))
                return
        cname = node.rrsets.get(TYPE_CNAME)
        if cname is not None and qtype != TYPE_CNAME:
            answer.answer.append((qname, cname.tails))
            target = cname.rdatas[0].lower()
            next_zone = containing_zone(snapshot.zones, target)
            if next_zone is None or target in seen:
                return  # out of our zones, or a loop: the resolver takes it from here
            zone, qname = next_zone, target
            continue
        if qtype == TYPE_ANY:
            answer_any(answer, zone, qname, node)
            return
        rrset = node.rrsets.get(qtype)
        if rrset is None:
            answer.authority.append(negative_soa(zone))  # NODATA, RFC 2308 §2.2
            return
        answer.answer.append((qname, rrset.tails))
        if rrset.targets:
            add_addresses(answer, snapshot, rrset.targets)
        return


def answer_pool(
    answer: Answer,
    ctx: QueryContext,
    snapshot: Snapshot,
    zone: Zone,
    qname: bytes,
    qtype: int,
    rng: random.Random,
) -> bool:
    """Pool A/AAAA for qname; False when the pool has nothing to give (NODATA)."""
    pool = snapshot.pools[qname]
    family_qtype = TYPE_A if qtype == TYPE_ANY else qtype
    if qtype == TYPE_ANY and 4 not in pool.families:
        family_qtype = TYPE_AAAA
    client = client_for(pool, ctx.client_network(), snapshot)
    selection = select(pool, family_qtype, client, snapshot.health, rng)
    answer.scope_prefix = selection.scope_prefix
    answer.pool = pool.pool.name
    if not selection.members:
        return False
    answer.answer.append((qname, tuple(m.tail for m in selection.members)))
    return True


def client_for(pool: CompiledPool, network: ClientNetwork, snapshot: Snapshot) -> Client:
    """The client as selection sees it; GeoIP is asked only when the pool's answer can
    depend on it and the client told us something (source prefix > 0)."""
    location = None
    if pool.needs_location and snapshot.geo is not None and network.source_prefix:
        location = snapshot.geo.locate(network.family, network.address)
    return Client(network.family, network.address, network.source_prefix, location)


def answer_any(answer: Answer, zone: Zone, qname: bytes, node: Node) -> None:
    """RFC 8482 §4.1: answer ANY with one RRset of the name, not all of them."""
    if not node.rrsets:
        answer.authority.append(negative_soa(zone))
        return
    rrset = min(node.rrsets.values(), key=lambda r: sum(len(t) for t in r.tails))
    answer.answer.append((qname, rrset.tails))


def refer(answer: Answer, zone: Zone, cut: Node) -> None:
    """A referral to the child zone (RFC 1034 §4.3.2 step 3b): not authoritative."""
    ns = cut.rrsets[TYPE_NS]
    answer.aa = False
    answer.authority.append((cut.name, ns.tails))
    for target in ns.targets:
        if names.is_subdomain(target, cut.name):  # in-domain glue: required (RFC 9471 §3)
            node = zone.nodes.get(target)
            if node is not None:
                before = len(answer.additional)
                add_node_addresses(answer, node)
                answer.required_additional += len(answer.additional) - before
    for target in ns.targets:
        if not names.is_subdomain(target, cut.name) and names.is_subdomain(target, zone.origin):
            node = zone.nodes.get(target)
            if node is not None:
                add_node_addresses(answer, node)  # sibling glue: optional


def add_addresses(answer: Answer, snapshot: Snapshot, targets: tuple[bytes, ...]) -> None:
    """Additional-section A/AAAA for NS, MX and SRV targets in our zones (RFC 1034 §3.6)."""
    for target in targets:
        zone = containing_zone(snapshot.zones, target)
        if zone is None:
            continue
        node = zone.nodes.get(target)
        if node is not None:
            add_node_addresses(answer, node)


def add_node_addresses(answer: Answer, node: Node) -> None:
    for rtype in (TYPE_A, TYPE_AAAA):
        rrset = node.rrsets.get(rtype)
        if rrset is not None:
            answer.additional.append((node.name, rrset.tails))


def negative_soa(zone: Zone) -> Item:
    soa: RRset = zone.negative_soa
    return (zone.origin, soa.tails)
