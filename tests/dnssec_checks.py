"""Our wire forms seen through dnspython, the independent judge of the signing tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dns.dnssec
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from geodns.dnssec.keys import SigningKey


def name(wire: bytes) -> dns.name.Name:
    return dns.name.from_wire(wire, 0)[0]


def rrset(owner: bytes, rtype: int, ttl: int, rdatas: Iterable[bytes]) -> dns.rrset.RRset:
    out = dns.rrset.RRset(name(owner), dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype))
    for wire in rdatas:
        out.add(
            dns.rdata.from_wire(dns.rdataclass.IN, rtype, wire, 0, len(wire)),
            ttl,
        )
    return out


def dnskeys(
    origin: bytes, keys: Sequence[SigningKey], ttl: int = 3600
) -> dict[dns.name.Name, dns.rrset.RRset]:
    return {name(origin): rrset(origin, 48, ttl, [k.public.rdata for k in keys])}


def validate(
    owner: bytes,
    rtype: int,
    ttl: int,
    rdatas: Iterable[bytes],
    rrsigs: Iterable[bytes],
    origin: bytes,
    keys: Sequence[SigningKey],
    now: float,
) -> None:
    """dns.dnssec.validate, raising dns.dnssec.ValidationFailure when any part is wrong."""
    sigs = rrset(owner, 46, ttl, rrsigs)
    dns.dnssec.validate(rrset(owner, rtype, ttl, rdatas), sigs, dnskeys(origin, keys), now=now)


def validate_message(
    message: dns.message.Message,
    dnskeys: dict[dns.name.Name, dns.rrset.RRset],
    now: float,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Validate every RRset of a reply that carries an RRSIG with dns.dnssec.validate
    (raising ValidationFailure on the first that fails); returns (validated, unsigned) as
    (owner, type) texts, so a test can say which RRsets may go unsigned."""
    validated: list[tuple[str, str]] = []
    unsigned: list[tuple[str, str]] = []
    for section in (message.answer, message.authority, message.additional):
        for rrset in section:
            if rrset.rdtype in (dns.rdatatype.RRSIG, dns.rdatatype.OPT):
                continue
            what = (rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype))
            sigs = [
                s
                for s in section
                if s.rdtype == dns.rdatatype.RRSIG
                and s.name == rrset.name
                and s.covers == rrset.rdtype
            ]
            if not sigs:
                unsigned.append(what)
                continue
            dns.dnssec.validate(rrset, sigs[0], dnskeys, now=now)
            validated.append(what)
    return validated, unsigned
