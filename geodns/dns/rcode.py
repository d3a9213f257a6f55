"""RCODE values (RFC 1035 §4.1.1, RFC 6891 §6.1.3, RFC 7873 §8) and their mnemonics.

Pure: no I/O. The one table of response codes: the answer path, the query log and the
metrics all name an RCODE from here.
"""

from __future__ import annotations

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
YXDOMAIN = 6  # RFC 2136 §2.2; a DNAME substitution too long (RFC 6672 §2.2)
# extended RCODEs: the upper 8 of 12 bits travel in the OPT record's TTL (RFC 6891 §6.1.3)
BADVERS = 16
BADCOOKIE = 23  # RFC 7873 §8

_TEXT = {
    NOERROR: "NOERROR",
    FORMERR: "FORMERR",
    SERVFAIL: "SERVFAIL",
    NXDOMAIN: "NXDOMAIN",
    NOTIMP: "NOTIMP",
    REFUSED: "REFUSED",
    YXDOMAIN: "YXDOMAIN",
    BADVERS: "BADVERS",
    BADCOOKIE: "BADCOOKIE",
}


def to_text(rcode: int) -> str:
    """'NXDOMAIN' for 3; the number as text for a code without a mnemonic here."""
    return _TEXT.get(rcode, str(rcode))
