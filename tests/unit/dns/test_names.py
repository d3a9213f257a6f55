"""Domain names as lowercase wire keys (geodns.dns.names), against dnspython where it has
the same notion: RFC 1035 §2.3.4 limits, §5.1 escapes, RFC 4343 case folding."""

from __future__ import annotations

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns import names
from geodns.dns.names import NameTextError
from geodns.errors import GeodnsError

EXAMPLE = b"\x07example\x04test\x00"
WWW = b"\x03www" + EXAMPLE


@pytest.mark.parametrize(
    ("text", "origin", "expected"),
    [
        ("www.example.test.", None, WWW),
        ("WwW.ExAmPlE.TEST.", None, WWW),  # RFC 4343 §3: ASCII letters fold
        ("www", EXAMPLE, WWW),  # relative: completed by the origin
        ("@", EXAMPLE, EXAMPLE),
        (".", None, names.ROOT),
        ("a\\.b.example.test.", None, b"\x03a.b" + EXAMPLE),  # an escaped dot stays in a label
        ("\\065\\066.example.test.", None, b"\x02ab" + EXAMPLE),  # \DDD, then folded
        ("\\200x.test.", None, b"\x02\xc8x\x04test\x00"),  # RFC 4343 §2: only ASCII folds
    ],
    ids=["absolute", "case", "relative", "at", "root", "escaped-dot", "decimal", "non-ascii"],
)
def test_text_names_become_lowercase_wire_keys_rfc1035_s5_1_rfc4343(text, origin, expected):
    assert names.from_text(text, origin) == expected


def test_the_case_preserving_form_keeps_the_letters_as_written():
    assert names.from_text_preserving_case("WWW.Example.test.") == b"\x03WWW\x07Example\x04test\x00"


def test_a_63_byte_label_and_a_255_byte_name_are_the_largest_rfc1035_s2_3_4():
    label = "a" * 63
    assert len(names.from_text(f"{label}.test.")) == 1 + 63 + 6
    longest = ".".join(["a" * 63] * 3 + ["b" * 61]) + "."  # 3 * 64 + 62 + 1 = 255 bytes
    assert len(names.from_text(longest)) == 255
    assert names.from_text(longest) == dns.name.from_text(longest).to_wire()


@pytest.mark.parametrize(
    ("text", "origin", "message"),
    [
        ("a" * 64 + ".test.", None, "is 64 bytes, over 63 (RFC 1035 §2.3.4)"),
        (".".join(["a" * 63] * 3 + ["b" * 62]) + ".", None, "is 256 bytes in wire form, over 255"),
        ("a..test.", None, "empty label in 'a..test.'"),
        ("\\256.test.", None, "escape \\256 is over 255"),
        ("test\\", None, "trailing backslash in 'test\\\\'"),
        ("www", None, "relative name 'www' without an origin"),
        ("@", None, "'@' needs an origin"),
    ],
    ids=[
        "label-64",
        "name-256",
        "empty-label",
        "escape-256",
        "trailing-backslash",
        "relative",
        "at",
    ],
)
def test_names_past_the_limits_are_refused_saying_why(text, origin, message):
    with pytest.raises(NameTextError) as caught:
        names.from_text(text, origin)
    assert message in str(caught.value)
    assert isinstance(caught.value, GeodnsError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("wire", "text"),
    [
        (names.ROOT, "."),
        (WWW, "www.example.test."),
        (b"\x03a.b\x04test\x00", "a\\.b.test."),
        (b'\x06q"();\\\x04test\x00', 'q\\"\\(\\)\\;\\\\.test.'),
        (b"\x03a b\x04test\x00", "a\\032b.test."),  # a space is not printable here: \DDD
        (b"\x02\xff@\x04test\x00", "\\255\\@.test."),
    ],
    ids=["root", "plain", "dot", "specials", "space", "high-byte-and-at"],
)
def test_wire_names_print_with_rfc1035_s5_1_escapes_as_dnspython_does(wire, text):
    assert names.to_text(wire) == text
    assert dns.name.from_wire(wire, 0)[0].to_text() == text


labels = st.lists(st.binary(min_size=1, max_size=20), min_size=0, max_size=6)


@given(labels)
def test_to_text_agrees_with_dnspython_and_reads_back_to_the_same_wire(parts):
    wire = b"".join(bytes([len(p)]) + p for p in parts) + b"\x00"
    text = names.to_text(wire)
    assert text == dns.name.Name([*parts, b""]).to_text()
    assert names.from_text_preserving_case(text) == wire


@given(labels)
def test_keys_compare_as_dnspython_names_do_case_insensitively_rfc4343(parts):
    wire = b"".join(bytes([len(p)]) + p for p in parts) + b"\x00"
    text = names.to_text(wire)
    assert names.from_text(text) == names.from_text(text.upper()) == names.from_text(text.lower())
    assert names.from_text(text) == dns.name.from_text(text).canonicalize().to_wire()


def test_parent_walks_up_one_label_and_the_root_is_its_own_parent():
    assert names.parent(WWW) == EXAMPLE
    assert names.parent(b"\x04test\x00") == names.ROOT
    assert names.parent(names.ROOT) == names.ROOT


def test_label_count_leaves_out_the_root_label():
    assert [names.label_count(n) for n in (names.ROOT, EXAMPLE, WWW)] == [0, 2, 3]


@pytest.mark.parametrize(
    ("name", "origin", "expected"),
    [
        (WWW, EXAMPLE, True),
        (EXAMPLE, EXAMPLE, True),
        (EXAMPLE, names.ROOT, True),
        (b"\x0abadexample\x04test\x00", EXAMPLE, False),
        # the last bytes are the origin's, but its first length byte sits inside a label
        (b"\x0aab\x07example\x04test\x00", EXAMPLE, False),
        (EXAMPLE, WWW, False),
        (b"\x03www\x07example\x03com\x00", EXAMPLE, False),
    ],
    ids=["below", "equal", "root", "longer-label", "inside-a-label", "above", "elsewhere"],
)
def test_subdomains_are_decided_on_label_boundaries(name, origin, expected):
    assert names.is_subdomain(name, origin) is expected


def test_ancestors_are_the_names_strictly_between_the_origin_and_the_name_top_down():
    deep = names.from_text("a.b.c.example.test.")
    assert names.ancestors(deep, EXAMPLE) == [
        names.from_text("c.example.test."),
        names.from_text("b.c.example.test."),
    ]
    assert names.ancestors(WWW, EXAMPLE) == []
    assert names.ancestors(EXAMPLE, EXAMPLE) == []
