"""What a zone may hold, checked at load: RFC 1034/1035/2181 rules over the read records.

Pure. Out-of-zone data, one SOA at the apex, NS at the apex, CNAME alone at its owner,
one DNAME at its owner and nothing below it, nothing but glue below a zone cut; each
problem at the record's "path:line".
"""

from __future__ import annotations

from collections.abc import Callable

from geodns.dns import names, rdatatype
from geodns.dns.rdata import type_to_text
from geodns.dns.zonefile_reader import Record

Say = Callable[[str, str], None]  # (where, message): report a problem


def check_records(
    origin: bytes, records: list[Record], failed_types: set[int], source: str, problem: Say
) -> list[Record]:
    """Load-time rules over records; reports each problem, returns the in-zone records.

    failed_types: types some record of which failed to parse (no second problem for
    a missing SOA or NS whose record was refused already).
    """
    zone = names.to_text(origin)
    inside: list[Record] = []
    for r in records:
        if names.is_subdomain(r.owner, origin):
            inside.append(r)
        else:
            problem(
                r.where,
                f'{type_to_text(r.rtype)} record at "{names.to_text(r.owner)}" is '
                f'outside the zone "{zone}" (out-of-zone data, RFC 1035 §5.2): '
                "remove it or move it to its own zone file",
            )
    soas = [r for r in inside if r.rtype == rdatatype.SOA]
    apex = [r for r in soas if r.owner == origin]
    for r in soas:
        if r.owner != origin:
            problem(
                r.where,
                f'SOA at "{names.to_text(r.owner)}" is not at the zone apex '
                f'"{zone}" (RFC 1035 §5.2): move it to @',
            )
    for r in apex[1:]:
        problem(
            r.where,
            f"second SOA at the zone apex (first at {apex[0].where}) (RFC 1035 §5.2): keep one",
        )
    top = apex[0].where if apex else f"{source}:1"
    if not apex and rdatatype.SOA not in failed_types:
        problem(top, f'no SOA at the zone apex "{zone}" (RFC 1035 §5.2): add one SOA at @')
    if rdatatype.NS not in failed_types and not any(
        r.rtype == rdatatype.NS and r.owner == origin for r in inside
    ):
        problem(top, f'no NS at the zone apex "{zone}" (RFC 1034 §4.2.1): add @ NS records')
    _check_cnames(origin, inside, problem)
    _check_dnames(inside, problem)
    _check_cuts(origin, inside, problem)
    return inside


def _check_cnames(origin: bytes, inside: list[Record], problem: Say) -> None:
    by_owner: dict[bytes, list[Record]] = {}
    for r in inside:
        by_owner.setdefault(r.owner, []).append(r)
    for owner, records in by_owner.items():
        cnames = [r for r in records if r.rtype == rdatatype.CNAME]
        if not cnames:
            continue
        name = names.to_text(owner)
        if owner == origin:
            for r in cnames:
                problem(
                    r.where,
                    f'CNAME at the zone apex "{name}", which has SOA and NS '
                    "(RFC 1034 §3.6.2): use A/AAAA records at @ instead",
                )
            continue
        first = cnames[0]
        for r in cnames[1:]:
            if r.rdata.wire != first.rdata.wire:
                problem(
                    r.where,
                    f'second CNAME at "{name}" (first at {first.where}) (RFC 2181 §10.1): keep one',
                )
        seen: set[int] = set()
        for r in records:  # RFC 4035 §2.5: DNSSEC records may stand beside a CNAME
            if r.rtype in (rdatatype.CNAME, rdatatype.RRSIG, rdatatype.NSEC) or r.rtype in seen:
                continue
            seen.add(r.rtype)
            where = max(first, r, key=lambda x: x.seq).where
            rfc = "RFC 6672 §2.4" if r.rtype == rdatatype.DNAME else "RFC 1034 §3.6.2"
            problem(where, f'CNAME "{name}" beside {_article(r.rtype)} record ({rfc}): keep one')


def _check_dnames(inside: list[Record], problem: Say) -> None:
    """RFC 6672 §2.4: one DNAME at an owner, and no data at any name below it (a query
    there is redirected, so such data could never be reached). A CNAME beside a DNAME is
    _check_cnames' to report."""
    first: dict[bytes, Record] = {}
    for r in inside:
        if r.rtype != rdatatype.DNAME:
            continue
        seen = first.setdefault(r.owner, r)
        if seen is not r and seen.rdata.wire != r.rdata.wire:
            problem(
                r.where,
                f'second DNAME at "{names.to_text(r.owner)}" (first at {seen.where}) '
                "(RFC 6672 §2.4): keep one",
            )
    if not first:
        return
    for r in inside:
        owner = next((a for a in names.ancestors(r.owner, names.ROOT) if a in first), None)
        if owner is None:
            continue
        problem(
            r.where,
            f'{type_to_text(r.rtype)} record at "{names.to_text(r.owner)}" is below the '
            f'DNAME at "{names.to_text(owner)}" ({first[owner].where}) (RFC 6672 §2.4): '
            "queries there are redirected, so it can never be answered; remove it",
        )


def _check_cuts(origin: bytes, inside: list[Record], problem: Say) -> None:
    cuts = {r.owner for r in inside if r.rtype == rdatatype.NS and r.owner != origin}
    if not cuts:
        return
    ns_targets = {r.rdata.target for r in inside if r.rtype == rdatatype.NS}
    for r in inside:
        cut = next((a for a in [*names.ancestors(r.owner, origin), r.owner] if a in cuts), None)
        if cut is None or (
            cut == r.owner
            and r.rtype in (rdatatype.NS, rdatatype.DS, rdatatype.RRSIG, rdatatype.NSEC)
        ):
            continue
        what = f'{type_to_text(r.rtype)} record at "{names.to_text(r.owner)}"'
        below = f'the delegation to "{names.to_text(cut)}"'
        if r.rtype not in (rdatatype.A, rdatatype.AAAA):
            problem(
                r.where,
                f"{what} is occluded by {below} (RFC 1034 §4.2.1): only glue "
                "belongs at or below a zone cut; remove it",
            )
        elif r.owner not in ns_targets:
            problem(
                r.where,
                f"{what} is occluded by {below} and is not glue: no NS names it "
                "(RFC 1034 §4.2.1); remove it or name it in the NS records",
            )


def _article(rtype: int) -> str:
    text = type_to_text(rtype)
    return ("an " if text[0] in "AEFHILMNORSX" else "a ") + text
