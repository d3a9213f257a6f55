"""Presentation-format RDATA to wire RDATA (geodns.dns.rdata), against dnspython's bytes:
RFC 1035 §5.1 fields and escapes, RFC 2181 §8 TTLs, RFC 3597 §5 generic rdata."""

from __future__ import annotations

import dns.name
import dns.rdata
import pytest

from geodns.dns import names, rdatatype
from geodns.dns.rdata import (
    RdataError,
    Token,
    build_rdata,
    parse_ttl,
    type_from_text,
    type_to_text,
    unescape_string,
)
from geodns.errors import GeodnsError

ORIGIN = names.from_text_preserving_case("example.test.")


def fields(text: str) -> list[Token]:
    """Unquoted fields split on spaces; a field in double quotes is one quoted Token."""
    out: list[Token] = []
    for i, part in enumerate(text.split('"')):
        if i % 2:
            out.append(Token(part, quoted=True))
        else:
            out.extend(Token(word) for word in part.split())
    return out


def reference(rtype: str, text: str) -> bytes:
    """dnspython's uncompressed wire RDATA for text, relative names completed by ORIGIN."""
    origin = dns.name.from_text("example.test.")
    return dns.rdata.from_text("IN", rtype, text, origin=origin, relativize=False).to_wire()


@pytest.mark.parametrize(
    ("rtype", "text"),
    [
        ("A", "192.0.2.1"),
        ("AAAA", "2001:db8::1"),
        ("NS", "ns1"),
        ("CNAME", "Target.Example.NET."),  # the case as written stays in the rdata
        ("PTR", "host.example.test."),
        ("MX", "10 mail"),
        ("TXT", '"v=spf1 -all" "second string"'),
        ("TXT", '"semi\\059colon \\092 and \\065"'),  # \DDD escapes (no \" here: fields())
        ("SPF", '"v=spf1 -all"'),
        ("SOA", "ns1 hostmaster 2026120301 2h 1h 2w 5m"),  # timers take TTL units
        ("SRV", "0 5 443 www"),
        ("DNAME", "example.net."),
        ("CAA", '0 issue "ca.example.net"'),
        ("DS", "60485 13 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A"),
        ("SSHFP", "4 2 123456789abcdef67890123456789abcdef67890123456789abcdef123456789"),
    ],
    ids=[
        "a",
        "aaaa",
        "ns",
        "cname-case",
        "ptr",
        "mx",
        "txt",
        "txt-escapes",
        "spf",
        "soa",
        "srv",
        "dname",
        "caa",
        "ds",
        "sshfp",
    ],
)
def test_rdata_is_the_bytes_dnspython_writes_uncompressed_rfc1035_s5_1(rtype, text):
    code = type_from_text(rtype)
    assert build_rdata(code, fields(text), ORIGIN).wire == reference(rtype, text)


@pytest.mark.parametrize(
    ("rtype", "text", "target"),
    [
        ("NS", "NS1.Example.TEST.", "ns1.example.test."),  # the key is lower case
        ("MX", "10 mail", "mail.example.test."),
        ("SRV", "0 5 443 www", "www.example.test."),
        ("MX", "0 .", None),  # RFC 7505: a null MX has no target to look up
        ("SRV", "0 0 0 .", None),  # RFC 2782: "." means no service
        ("CNAME", "www", None),  # a CNAME is chased, not an additional-section target
    ],
    ids=["ns", "mx", "srv", "null-mx", "srv-none", "cname"],
)
def test_ns_mx_and_srv_name_their_additional_section_target_rfc1034_s3_6(rtype, text, target):
    built = build_rdata(type_from_text(rtype), fields(text), ORIGIN)
    assert (None if built.target is None else names.to_text(built.target)) == target


def test_generic_rdata_of_an_unknown_type_is_kept_as_written_rfc3597_s5():
    built = build_rdata(65280, fields("\\# 4 0A000001"), ORIGIN)
    assert built.wire == bytes.fromhex("0a000001")
    assert build_rdata(65280, fields("\\# 0"), ORIGIN).wire == b""


def test_generic_rdata_of_a_known_type_must_be_valid_data_for_it_rfc3597_s5():
    ns = build_rdata(rdatatype.NS, fields("\\# 5 036e733100"), None)
    assert ns.wire == b"\x03ns1\x00" and ns.target == b"\x03ns1\x00"
    assert build_rdata(rdatatype.A, fields("\\# 4 c0000201"), None).wire == bytes([192, 0, 2, 1])
    with pytest.raises(RdataError) as caught:
        build_rdata(rdatatype.A, fields("\\# 3 c00002"), None)
    assert str(caught.value) == "generic rdata is not valid A data (RFC 3597 §5)"


@pytest.mark.parametrize(
    ("rtype", "text", "message"),
    [
        ("A", "300.1.2.3", '"300.1.2.3" is not an IPv4 address: write one like 192.0.2.1'),
        ("AAAA", "192.0.2.1", '"192.0.2.1" is not an IPv6 address: write one like 2001:db8::1'),
        ("MX", "mail", "needs 2 fields (preference exchange), got 1"),
        ("MX", "65536 mail", 'bad preference "65536": write a whole number from 0 to 65535'),
        ("A", '"192.0.2.1"', "takes no quoted strings: remove the quotes"),
        ("TXT", "", "needs at least one string: add a quoted string"),
        (
            "TXT",
            '"' + "x" * 256 + '"',
            "string of 256 bytes is over 255 (RFC 1035 §3.3): split it into several quoted strings",
        ),
        ("CAA", '0 is-sue "x"', 'tag "is-sue" must be letters and digits (RFC 8659 §4.1)'),
        (
            "SOA",
            "ns1 hostmaster 1 2h 1h 2w 5x",
            'SOA timers: bad TTL "5x" (RFC 1035 §5.1; '
            "units s m h d w): write seconds or e.g. 1h30m",
        ),
        ("CNAME", "a..b", "bad name: empty label in 'a..b'"),
    ],
    ids=[
        "a",
        "aaaa",
        "count",
        "range",
        "quoted",
        "empty-txt",
        "long-string",
        "caa-tag",
        "soa-timer",
        "bad-name",
    ],
)
def test_bad_rdata_says_what_would_be_right(rtype, text, message):
    with pytest.raises(RdataError) as caught:
        build_rdata(type_from_text(rtype), fields(text), ORIGIN)
    assert str(caught.value) == message


def test_rdata_errors_are_geodns_errors():
    assert issubclass(RdataError, GeodnsError)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("3600", 3600),
        ("1h30m", 5400),
        ("1W", 604800),
        ("2d3s", 172803),
        ("2147483647", 2**31 - 1),
    ],
)
def test_ttls_are_seconds_or_unit_sums_rfc1035_s5_1(text, seconds):
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2147483648", "TTL 2147483648 is over 2147483647 (RFC 2181 §8): use a smaller value"),
        (
            "1h 30m",
            'bad TTL "1h 30m" (RFC 1035 §5.1; units s m h d w): write seconds or e.g. 1h30m',
        ),
        ("-1", 'bad TTL "-1" (RFC 1035 §5.1; units s m h d w): write seconds or e.g. 1h30m'),
        ("h", 'bad TTL "h" (RFC 1035 §5.1; units s m h d w): write seconds or e.g. 1h30m'),
    ],
    ids=["over-2-31", "space", "negative", "unit-alone"],
)
def test_bad_or_too_long_ttls_are_refused_rfc2181_s8(text, message):
    with pytest.raises(RdataError) as caught:
        parse_ttl(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", b"plain"),
        ('a\\"b', b'a"b'),
        ("\\065\\000", b"A\x00"),
        ("\\\\", b"\\"),
        ("caf\u00e9", "caf\u00e9".encode()),
    ],
    ids=["plain", "quote", "decimal", "backslash", "utf-8"],
)
def test_character_strings_unescape_rfc1035_s5_1(text, expected):
    assert unescape_string(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\\256", "escape \\256 is over 255 (RFC 1035 §5.1): use \\000-\\255"),
        ("end\\", 'trailing backslash in "end\\": escape it as \\\\'),
    ],
    ids=["over-255", "trailing"],
)
def test_bad_escapes_in_character_strings_are_refused(text, message):
    with pytest.raises(RdataError) as caught:
        unescape_string(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("MX", rdatatype.MX),
        ("mx", rdatatype.MX),
        ("TYPE15", rdatatype.MX),
        ("type65280", 65280),
        ("CAA", rdatatype.CAA),
    ],
)
def test_types_are_read_by_mnemonic_or_rfc3597_typennn(text, code):
    assert type_from_text(text) == code


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OPT", "type OPT cannot be stored in a zone (RFC 6895 §3.1): remove it"),
        ("TYPE41", "type TYPE41 cannot be stored in a zone (RFC 6895 §3.1): remove it"),
        ("ANY", "type ANY cannot be stored in a zone (RFC 6895 §3.1): remove it"),
        ("TYPE128", "type TYPE128 cannot be stored in a zone (RFC 6895 §3.1): remove it"),
        ("TYPE0", "type TYPE0 cannot be stored in a zone (RFC 6895 §3.1): remove it"),
        ("TYPE65536", "type TYPE65536 cannot be stored in a zone (RFC 6895 §3.1): remove it"),
        ("BOGUS", 'unknown type "BOGUS": use a known type, or TYPEnnn with RFC 3597 \\# rdata'),
    ],
    ids=["opt", "type41", "any", "meta-128", "zero", "too-big", "unknown"],
)
def test_meta_types_and_unknown_names_are_not_zone_data_rfc6895_s3_1(text, message):
    with pytest.raises(RdataError) as caught:
        type_from_text(text)
    assert str(caught.value) == message


def test_types_print_by_mnemonic_or_as_typennn_rfc3597_s5():
    assert [type_to_text(t) for t in (rdatatype.A, rdatatype.CAA, 65280)] == [
        "A",
        "CAA",
        "TYPE65280",
    ]
