"""NSEC for online signing: bitmaps as dnspython writes them, immediate successors and
predecessors (RFC 4471 §3.1.2) in canonical order, compact denial's types (RFC 9824 §3)."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns import names, rdatatype
from geodns.dnssec.nsec import (
    compact_denial,
    nsec_rdata,
    predecessor,
    successor,
    type_bitmap,
)


def as_name(wire: bytes) -> dns.name.Name:
    return dns.name.from_wire(wire, 0)[0]


@pytest.mark.parametrize(
    "types",
    [
        ["A"],
        ["A", "AAAA", "MX", "TXT"],
        ["NS", "SOA", "DNSKEY", "CDS", "CDNSKEY"],
        ["CAA"],
        ["A", "CAA", "TYPE65534"],
        ["NXNAME"],
    ],
    ids=["a", "four", "apex", "window-1", "three-windows", "nxname"],
)
def test_nsec_rdata_matches_dnspython_rfc4034_s4_1_2(types: list[str]) -> None:
    next_name = names.from_text("\\000.www.example.test.")
    numbers = [dns.rdatatype.from_text(t) for t in types]
    theirs = dns.rdata.from_text(
        dns.rdataclass.IN, "NSEC", "\\000.www.example.test. " + " ".join(types + ["RRSIG", "NSEC"])
    )
    assert nsec_rdata(next_name, numbers) == theirs.to_wire()


def test_an_empty_bitmap_is_empty() -> None:
    assert type_bitmap([]) == b""


def test_compact_denial_lists_nxname_only_for_a_name_that_does_not_exist_rfc9824_s3() -> None:
    assert compact_denial([], exists=False) == {46, 47, rdatatype.NXNAME}
    assert compact_denial([1, 28], exists=True) == {1, 28, 46, 47}
    assert compact_denial([], exists=True) == {46, 47}  # an empty non-terminal


def test_successor_is_the_first_child_rfc4471_s3_1_2_1() -> None:
    name = names.from_text("www.example.test.")
    assert successor(name) == names.from_text("\\000.www.example.test.")


LABEL = st.binary(min_size=1, max_size=63).map(bytes.lower)


@st.composite
def long_names(draw: st.DrawFn) -> bytes:
    """Names near the 255-octet limit, where the successor and predecessor get tricky."""
    labels = draw(st.lists(LABEL, min_size=1, max_size=6))
    wire = b"".join(bytes((len(x),)) + x for x in labels) + b"\x04test\x00"
    while len(wire) > 255:
        wire = wire[wire[0] + 1 :]
    return wire


def neighbours(name: bytes) -> list[bytes]:
    """Names one small edit away from name: the ones a wrong successor or predecessor would
    skip over or land on."""
    label, parent = name[1 : 1 + name[0]], name[1 + name[0] :]
    out = [parent, b"\x01\x00" + name, b"\x01\xff" + name]
    for octet in (label[-1] - 1, label[-1] + 1):
        if 0 <= octet <= 255:
            changed = (label[:-1] + bytes((octet,))).lower()
            out.append(bytes((len(changed),)) + changed + parent)
    for tail in (b"\x00", b"\xff", b"\x00\x00"):
        if len(label) + len(tail) <= 63:
            out.append(bytes((len(label) + len(tail),)) + label + tail + parent)
    if len(label) > 1:
        out.append(bytes((len(label) - 1,)) + label[:-1] + parent)
    return [n for n in out if len(n) <= 255 and n != name]


@given(long_names())
def test_successor_and_predecessor_are_immediate_neighbours_rfc4471_s3_1_2(name: bytes) -> None:
    before, after = predecessor(name), successor(name)
    assert len(before) <= 255 and len(after) <= 255
    assert as_name(before) < as_name(name) < as_name(after)
    for other in neighbours(name) + neighbours(before) + neighbours(after):
        between = as_name(before) < as_name(other) < as_name(after)
        assert not between or other == name, names.to_text(other)


def test_predecessor_skips_upper_case_letters_which_canonical_form_lowers() -> None:
    # "[" - 1 is "Z", which sorts as "z", after "[": the predecessor must use "@" instead
    name = names.from_text("[.example.test.")
    before = predecessor(name)
    sibling = b"\x3f@" + b"\xff" * 62 + names.from_text("example.test.")
    assert before.endswith(sibling)  # its deepest descendant, in fact
    assert as_name(before) < as_name(name)


def test_predecessor_of_the_smallest_child_is_its_parent() -> None:
    assert predecessor(names.from_text("\\000.example.test.")) == names.from_text("example.test.")
