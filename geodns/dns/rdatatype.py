"""RR TYPE values (RFC 1035 §3.2.2 and later RFCs) and their mnemonics.

Pure: no I/O. The one table of types the data plane names; rdata.py knows how to build
each one from text, zone.py where each one's embedded names are.
"""

from __future__ import annotations

A = 1
NS = 2
MD = 3
MF = 4
CNAME = 5
SOA = 6
MB = 7
MG = 8
MR = 9
PTR = 12
MINFO = 14
MX = 15
TXT = 16
AAAA = 28
SRV = 33
NAPTR = 35
DNAME = 39
OPT = 41  # RFC 6891: a pseudo-RR, never a question or zone data
DS = 43
RRSIG = 46
NSEC = 47
DNSKEY = 48
NSEC3 = 50
CDS = 59
CDNSKEY = 60
SVCB = 64
HTTPS = 65
SPF = 99
NXNAME = 128  # RFC 9824 §2: a meta type, only ever in compact denial's NSEC bitmap
IXFR = 251
AXFR = 252
ANY = 255
CAA = 257

_TEXT = {
    A: "A",
    NS: "NS",
    MD: "MD",
    MF: "MF",
    CNAME: "CNAME",
    SOA: "SOA",
    MB: "MB",
    MG: "MG",
    MR: "MR",
    PTR: "PTR",
    MINFO: "MINFO",
    MX: "MX",
    TXT: "TXT",
    AAAA: "AAAA",
    SRV: "SRV",
    NAPTR: "NAPTR",
    DNAME: "DNAME",
    OPT: "OPT",
    DS: "DS",
    RRSIG: "RRSIG",
    NSEC: "NSEC",
    DNSKEY: "DNSKEY",
    NSEC3: "NSEC3",
    CDS: "CDS",
    CDNSKEY: "CDNSKEY",
    SVCB: "SVCB",
    HTTPS: "HTTPS",
    SPF: "SPF",
    NXNAME: "NXNAME",
    IXFR: "IXFR",
    AXFR: "AXFR",
    ANY: "ANY",
    CAA: "CAA",
}


def to_text(rtype: int) -> str:
    """'MX' for 15; RFC 3597 §5's TYPEnnn for a type without a mnemonic here."""
    return _TEXT.get(rtype, f"TYPE{rtype}")
