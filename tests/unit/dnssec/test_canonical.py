"""Canonical rdata and name order (RFC 4034 §6) agree with dnspython's."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns import names
from geodns.dnssec.canonical import canonical_key, canonical_rdata, canonical_rdatas, label_count

MIXED = [
    ("NS", "Ns1.Example.TEST."),
    ("CNAME", "WWW.Example.test."),
    ("SOA", "NS1.Example.Test. HostMaster.EXAMPLE.test. 2024 3600 900 604800 300"),
    ("MX", "10 Mail.EXAMPLE.test."),
    ("SRV", "0 5 443 Sip.Example.Test."),
    ("PTR", "Host.Example.TEST."),
    ("DNAME", "Other.Example.TEST."),
    ("RP", "Admin.Example.Test. Info.Example.TEST."),
    ("AFSDB", "1 AFS.Example.Test."),
    ("NAPTR", '100 10 "S" "SIP+D2U" "" _Sip._UDP.Example.Test.'),
    ("KX", "10 KX.Example.Test."),
    ("TXT", '"Mixed Case Stays"'),
    ("A", "192.0.2.1"),
]


@pytest.mark.parametrize("rtype, text", MIXED, ids=[m[0] for m in MIXED])
def test_canonical_rdata_lowers_the_names_rfc4034_s6_2_lists(rtype: str, text: str) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rtype, text)
    wire = rdata.to_wire()  # uncompressed, case kept, as geodns stores rdata
    assert canonical_rdata(dns.rdatatype.from_text(rtype), wire) == rdata.to_digestable()


def test_canonical_rdatas_sort_as_octet_strings_and_drop_duplicates_rfc4034_s6_3() -> None:
    rdatas = [b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", b"\x09\xff\xff\xff"]
    assert canonical_rdatas(1, rdatas) == (
        b"\x09\xff\xff\xff",
        b"\x0a\x00\x00\x01",
        b"\x0a\x00\x00\x02",
    )


@pytest.mark.parametrize(
    "owner, labels",
    [(".", 0), ("example.test.", 2), ("*.example.test.", 2), ("a.*.example.test.", 4)],
)
def test_label_count_leaves_out_the_root_and_a_leading_wildcard_rfc4034_s3_1_3(
    owner: str, labels: int
) -> None:
    assert label_count(names.from_text(owner)) == labels


LABEL = st.binary(min_size=1, max_size=4)
NAME = st.lists(LABEL, min_size=0, max_size=4).map(
    lambda labels: b"".join(bytes((len(x),)) + x for x in labels) + b"\x00"
)


@given(st.lists(NAME, min_size=2, max_size=12))
def test_canonical_order_matches_dnspython_rfc4034_s6_1(wires: list[bytes]) -> None:
    lowered = [w.lower() for w in wires]  # length octets are under 5: never letters
    ours = sorted(set(lowered), key=canonical_key)
    theirs = sorted({dns.name.from_wire(w, 0)[0] for w in lowered})
    assert [dns.name.from_wire(w, 0)[0] for w in ours] == theirs
