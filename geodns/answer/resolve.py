"""(QueryContext, Snapshot) -> Answer: the authoritative algorithm of RFC 1034 §4.3.2.

Pure: no I/O, no awaits, no randomness. Finds the zone, walks to the name, and returns
what the reply holds: positive answers, CNAME chains inside our zones, DNAME redirection
with its synthesised CNAME (RFC 6672 §3.2), wildcard synthesis (RFC 4592), referrals at
zone cuts, NODATA / NXDOMAIN with the SOA (RFC 2308), and for a pool the prepared
selection (everything decided but the draw). reply.py compiles the
Answer into bytes; the draw happens when a reply is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from geodns.answer.context import ClientNetwork, QueryContext
from geodns.dns import names, rdataclass, rdatatype
from geodns.dns.edns import (
    EDE_INVALID_QUERY_TYPE,
    EDE_NOT_AUTHORITATIVE,
    EDE_PROHIBITED,
    ExtendedError,
)
from geodns.dns.rcode import BADVERS, FORMERR, NOERROR, NOTIMP, NXDOMAIN, REFUSED, YXDOMAIN
from geodns.dns.zone import Found, Node, RRset, Zone, containing_zone
from geodns.dnssec.signed import PoolSignatures
from geodns.pools.compile import CompiledPool
from geodns.pools.select import Client, Prepared, prepare
from geodns.snapshot import Snapshot

MAX_CNAME_CHAIN = 8  # hops (CNAME or DNAME) followed in our zones; then we answer what we have
MAX_NAME_OCTETS = 255  # RFC 1035 §2.3.4
# RFC 1034 §4.3.2 step 3a: a CNAME is followed unless QTYPE matches it: CNAME itself,
# ANY (which matches every type), and the DNSSEC types that live beside it (RFC 4035 §2.5)
CNAME_OWN_TYPES = frozenset({rdatatype.CNAME, rdatatype.ANY, rdatatype.NSEC, rdatatype.RRSIG})

Item = tuple[bytes, RRset]  # (owner name key, RRset): one RRset in a section


class Kind(enum.Enum):
    """What an answer says, as response rate limiting and metrics group answers."""

    POSITIVE = "positive"
    NODATA = "nodata"
    NXDOMAIN = "nxdomain"
    REFERRAL = "referral"
    ERROR = "error"


@dataclass(slots=True)
class Answer:
    """The content of one reply; a pool's drawn records end the answer section."""

    rcode: int = NOERROR
    aa: bool = True
    kind: Kind = Kind.POSITIVE
    answer: list[Item] = field(default_factory=list)
    authority: list[Item] = field(default_factory=list)
    additional: list[Item] = field(default_factory=list)
    required_additional: int = 0  # leading additional items that must fit or TC (RFC 9471 §3)
    pool: CompiledPool | None = None  # the pool whose draw ends the answer section
    pool_owner: bytes = b""  # the name key the drawn records are owned by
    prepared: Prepared | None = None  # the pool's selection for this client, less the draw
    zone: Zone | None = None  # the zone that gave the last part of the answer
    wildcard: bool = False  # the last part was synthesised from a wildcard (RFC 4592)
    extended_error: ExtendedError | None = None  # RFC 8914: sent only if the query had EDNS
    pool_signatures: PoolSignatures | None = None  # DO: the drawn records' RRSIGs (dnssec.py)

    @property
    def scope_prefix(self) -> int:
        """The ECS SCOPE PREFIX-LENGTH (RFC 7871 §7.2.1): 0 unless a pool decided."""
        return 0 if self.prepared is None else self.prepared.scope_prefix


def refusal(rcode: int, extended_error: ExtendedError | None = None) -> Answer:
    """An answer with no records, not authoritative; the EDE says why (RFC 8914)."""
    return Answer(rcode=rcode, aa=False, kind=Kind.ERROR, extended_error=extended_error)


NOT_AUTHORITATIVE = ExtendedError(EDE_NOT_AUTHORITATIVE)
PROHIBITED = ExtendedError(EDE_PROHIBITED)
NXNAME_ASKED = ExtendedError(EDE_INVALID_QUERY_TYPE, "NXNAME is not a type to ask for")


def prohibited() -> Answer:
    """REFUSED with EDE 18 (Prohibited, RFC 8914 §4.19): the defences' refusal of a client
    an operator's policy denies; the RCODE is REFUSED, as RFC 8914 §3 leaves it."""
    return refusal(REFUSED, PROHIBITED)


NO_CLIENT = Client(4, 0, 0)  # for pools whose answer ignores who asks


def prepare_pool(pool: CompiledPool, qtype: int, ctx: QueryContext, snapshot: Snapshot) -> Prepared:
    """The pool's selection for this query's client, from scratch."""
    if not pool.depends_on_client:
        return prepare(pool, qtype, NO_CLIENT, snapshot.health)
    return prepare(pool, qtype, client_for(pool, ctx.client_network(), snapshot), snapshot.health)


PreparePool = Callable[[CompiledPool, int, QueryContext, Snapshot], Prepared]


def client_for(pool: CompiledPool, network: ClientNetwork, snapshot: Snapshot) -> Client:
    """The client as selection sees it; GeoIP is asked only when the pool's answer can
    depend on it and the client told us something (source prefix > 0)."""
    location = None
    if pool.needs_location and snapshot.geo is not None and network.source_prefix:
        location = snapshot.geo.locate(network.family, network.address)
    return Client(network.family, network.address, network.source_prefix, location)


def resolve(
    ctx: QueryContext, snapshot: Snapshot, prepare_for: PreparePool = prepare_pool
) -> Answer:
    """The Answer for one query, read from one snapshot.

    prepare_for makes a pool's selection; the cache passes one that remembers
    selections by the client network they hold for.
    """
    query = ctx.query
    edns = query.edns
    if edns is not None and edns.version > 0:
        return refusal(BADVERS)  # RFC 6891 §6.1.3, before anything else is looked at
    if query.opcode != 0:
        return refusal(NOTIMP)  # RFC 1035 §4.1.1: only QUERY is implemented
    qtype = query.qtype
    if qtype == rdatatype.OPT:
        return refusal(FORMERR)  # RFC 6891 §6.1.1: OPT is a pseudo-RR, never a question
    if query.qclass not in (rdataclass.IN, rdataclass.ANY):
        return refusal(REFUSED)  # CH, HS: no data here; RFC 8906 §3.1.4 wants an answer
    if qtype in (rdatatype.AXFR, rdatatype.IXFR):
        return refusal(REFUSED)  # zone transfers are not offered (RFC 5936 §4.2)
    if qtype == rdatatype.NXNAME:
        return refusal(FORMERR, NXNAME_ASKED)  # RFC 9824 §3.5: it lives in NSEC bitmaps only
    zone = containing_zone(snapshot.zones, query.qname)
    if zone is not None and qtype == rdatatype.DS and query.qname == zone.origin:
        zone = parent_side(snapshot, zone)
    if zone is None:
        # not ours: no recursion, no upward referral (RFC 8906 §3.1.4); RFC 8914 §4.21
        return refusal(REFUSED, NOT_AUTHORITATIVE)
    answer = Answer()
    answer_from_zone(answer, ctx, snapshot, zone, prepare_for)
    return answer


def parent_side(snapshot: Snapshot, child: Zone) -> Zone:
    """The zone that answers DS at child's apex: the parent, when we serve it and it
    delegates to child (RFC 4035 §3.1.4.1: DS is the parent's data), else child."""
    if child.origin == names.ROOT:
        return child
    parent = containing_zone(snapshot.zones, names.parent(child.origin))
    return parent if parent is not None and child.origin in parent.cuts else child


def answer_from_zone(
    answer: Answer, ctx: QueryContext, snapshot: Snapshot, zone: Zone, prepare_for: PreparePool
) -> None:
    qname, qtype = ctx.query.qname, ctx.query.qtype
    seen: set[bytes] = set()
    for _ in range(MAX_CNAME_CHAIN + 1):
        seen.add(qname)
        answer.zone = zone
        result = zone.lookup(qname, qtype)
        if result.found is Found.DELEGATION:
            assert result.node is not None
            refer(answer, zone, result.node)
            return
        if result.found is Found.DNAME:
            assert result.node is not None
            target = redirect(answer, qname, result.node)
            if target is None:
                return
            next_zone = containing_zone(snapshot.zones, target)
            if next_zone is None or target in seen:
                return  # as for a CNAME: out of our zones, or a loop
            zone, qname = next_zone, target
            continue
        if result.found is Found.NXDOMAIN:
            # RFC 6604 §3: after a CNAME the RCODE describes the last name in the chain
            answer.rcode = NXDOMAIN
            answer.kind = Kind.NXDOMAIN
            answer.authority.append(negative_soa(zone))
            return
        node = result.node
        assert node is not None
        answer.wildcard = result.found is Found.WILDCARD
        pool = snapshot.pools.get(qname) if result.found is Found.EXACT else None
        if pool is not None and qtype in (rdatatype.A, rdatatype.AAAA, rdatatype.ANY):
            if answer_pool(answer, ctx, snapshot, pool, qname, qtype, prepare_for):
                return
            if qtype != rdatatype.ANY:
                answer.kind = Kind.NODATA
                answer.authority.append(negative_soa(zone))
                return
        cname = node.rrsets.get(rdatatype.CNAME)
        if cname is not None and qtype not in CNAME_OWN_TYPES:
            answer.answer.append((qname, cname))
            target = cname.rdatas[0].lower()
            next_zone = containing_zone(snapshot.zones, target)
            if next_zone is None or target in seen:
                return  # out of our zones, or a loop: the resolver takes it from here
            zone, qname = next_zone, target
            continue
        if qtype == rdatatype.ANY:
            answer_any(answer, zone, qname, node)
            return
        rrset = node.rrsets.get(qtype)
        if rrset is None:
            answer.kind = Kind.NODATA
            answer.authority.append(negative_soa(zone))  # NODATA, RFC 2308 §2.2
            return
        answer.answer.append((qname, rrset))
        if rrset.targets:
            add_addresses(answer, snapshot, rrset.targets)
        return


def redirect(answer: Answer, qname: bytes, owner: Node) -> bytes | None:
    """RFC 6672 §3.2 step 3c: the DNAME, and a CNAME for qname synthesised from it (same
    TTL, §3.1); the CNAME's target as a lowercase key, or None when substituting the
    owner makes a name too long (YXDOMAIN, RFC 6672 §2.2)."""
    dname = owner.rrsets[rdatatype.DNAME]
    answer.answer.append((owner.name, dname))
    target = qname[: len(qname) - len(owner.name)] + dname.rdatas[0]
    if len(target) > MAX_NAME_OCTETS:
        answer.rcode = YXDOMAIN
        return None
    cname = RRset(qname, rdatatype.CNAME, dname.ttl, (target,), synthesised=True)
    answer.answer.append((qname, cname))
    return target.lower()


def answer_pool(
    answer: Answer,
    ctx: QueryContext,
    snapshot: Snapshot,
    pool: CompiledPool,
    qname: bytes,
    qtype: int,
    prepare_for: PreparePool,
) -> bool:
    """The pool's A/AAAA for qname; False when the pool has nothing to give (NODATA)."""
    family_qtype = rdatatype.A if qtype == rdatatype.ANY else qtype
    if qtype == rdatatype.ANY and 4 not in pool.families:
        family_qtype = rdatatype.AAAA
    prepared = prepare_for(pool, family_qtype, ctx, snapshot)
    answer.pool = pool
    answer.pool_owner = qname
    answer.prepared = prepared
    return prepared.draw.size > 0


def answer_any(answer: Answer, zone: Zone, qname: bytes, node: Node) -> None:
    """RFC 8482 §4.1: answer ANY with one RRset of the name, not all of them."""
    if not node.rrsets:
        answer.kind = Kind.NODATA
        answer.authority.append(negative_soa(zone))
        return
    rrset = min(node.rrsets.values(), key=lambda r: sum(len(t) for t in r.tails))
    answer.answer.append((qname, rrset))


def refer(answer: Answer, zone: Zone, cut: Node) -> None:
    """A referral to the child zone (RFC 1034 §4.3.2 step 3b): not authoritative.

    In-domain glue (below the cut) is required and must fit or the reply is truncated
    (RFC 9471 §3); sibling glue (elsewhere in this zone) is optional.
    """
    ns = cut.rrsets[rdatatype.NS]
    # RFC 1035 §4.1.1, RFC 6604 §2.1: AA describes the first owner in the answer; after a
    # CNAME (or DNAME) of ours that led here, we are authoritative for that one
    answer.aa = bool(answer.answer)
    answer.kind = Kind.REFERRAL
    answer.authority.append((cut.name, ns))
    sibling: list[Node] = []
    for target in ns.targets:
        node = zone.nodes.get(target)
        if node is None:
            continue
        if names.is_subdomain(target, cut.name):
            before = len(answer.additional)
            add_node_addresses(answer, node)
            answer.required_additional += len(answer.additional) - before
        elif names.is_subdomain(target, zone.origin):
            sibling.append(node)
    for node in sibling:
        add_node_addresses(answer, node)


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
    for rtype in (rdatatype.A, rdatatype.AAAA):
        rrset = node.rrsets.get(rtype)
        if rrset is not None:
            answer.additional.append((node.name, rrset))


def negative_soa(zone: Zone) -> Item:
    return (zone.origin, zone.negative_soa)
