"""Name compression (RFC 1035 §4.1.4): pointers to the longest suffix already written."""

from __future__ import annotations

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns import names
from geodns.dns.compress import MAX_POINTER_TARGET, Compressor


def wire(text: str) -> bytes:
    return names.from_text_preserving_case(text)


def test_a_name_already_written_becomes_a_pointer_to_it_rfc1035_4_1_4():
    c = Compressor()
    c.remember(wire("www.example.test."), 12)
    assert c.encode(wire("www.example.test."), 40) == b"\xc0\x0c"


def test_a_name_sharing_a_suffix_writes_its_own_labels_then_a_pointer():
    c = Compressor()
    c.remember(wire("www.example.test."), 12)
    # "example.test." starts 4 bytes into the question name: offset 16
    assert c.encode(wire("mail.example.test."), 40) == b"\x04mail\xc0\x10"
    # and the new name is remembered: "mail.example.test." now starts at 40
    assert c.encode(wire("mail.example.test."), 60) == b"\xc0\x28"


def test_suffixes_match_case_insensitively_and_written_labels_keep_their_case_rfc4343():
    c = Compressor()
    c.remember(wire("WWW.Example.TEST."), 12)
    assert c.encode(wire("Mail.example.test."), 40) == b"\x04Mail\xc0\x10"


def test_the_root_is_one_byte_never_a_pointer():
    c = Compressor()
    c.remember(wire("example.test."), 12)
    assert c.encode(b"\x00", 40) == b"\x00"


def test_names_past_the_reach_of_a_14_bit_pointer_are_not_remembered():
    c = Compressor()
    c.remember(wire("far.example.test."), MAX_POINTER_TARGET + 1)
    assert c.encode(wire("far.example.test."), MAX_POINTER_TARGET + 40) == wire("far.example.test.")


LABEL = st.text(alphabet="abcXYZ019-", min_size=1, max_size=8)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(lambda labels: ".".join(labels) + ".")


@given(st.lists(NAME, min_size=1, max_size=12))
def test_every_name_reads_back_the_same_through_an_independent_decoder(texts):
    """dnspython follows the pointers: each name written is the name asked for."""
    c = Compressor()
    message = bytearray(12)  # a header's worth of bytes before the first name
    starts = []
    for text in texts:
        starts.append(len(message))
        message += c.encode(wire(text), len(message))
    for text, start in zip(texts, starts, strict=True):
        parsed, _ = dns.name.from_wire(bytes(message), start)
        assert parsed == dns.name.from_text(text)


@pytest.mark.parametrize("text", ["a.b.c.", "x."])
def test_a_name_written_in_full_is_its_uncompressed_wire_form(text):
    assert Compressor().encode(wire(text), 12) == wire(text)
