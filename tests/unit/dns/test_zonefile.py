"""Master-file parsing (RFC 1035 §5) and the load-time zone checks, against dnspython."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns import names, rdatatype
from geodns.dns.zone import RRset, Zone
from geodns.dns.zonefile import (
    ZoneLoad,
    load_zone_dir,
    load_zone_file,
    merge_reload,
    parse_zone_text,
)
from geodns.errors import Problem, ZoneFileError

ROOT = Path(__file__).resolve().parents[3]
ZONES = ROOT / "tests" / "data" / "zones"
ORIGIN = "example.test."
HEAD = """$ORIGIN example.test.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.53
"""  # lines 1-5: a valid zone; cases append from line 6


def parse(text: str, origin: str | None = ORIGIN) -> Zone:
    return parse_zone_text(text, origin=origin, source="t.zone", include_root=None)


def problems_of(text: str, origin: str | None = ORIGIN) -> list[tuple[int, str]]:
    with pytest.raises(ZoneFileError) as caught:
        parse(text, origin)
    out = []
    for problem in caught.value.problems:
        path, _, line = problem.where.rpartition(":")
        assert path == "t.zone"
        out.append((int(line), problem.message))
    return out


def rrset_of(zone: Zone, owner: str, rtype: int) -> RRset:
    return zone.nodes[names.from_text(owner)].rrsets[rtype]


def dnspython_wire(rtype: str, text: str, origin: str = ORIGIN) -> bytes:
    rd = dns.rdata.from_text(
        dns.rdataclass.IN,
        dns.rdatatype.from_text(rtype),
        text,
        origin=dns.name.from_text(origin),
        relativize=False,
    )
    wire = rd.to_wire()  # no compression map: names are written in full
    assert wire is not None
    return wire


def our_wire(rtype: str, text: str) -> bytes:
    if rtype == "SOA":  # the one SOA must be at the apex
        zone = parse(HEAD.replace("ns1 hostmaster 1 7200 3600 1209600 300", text))
        return rrset_of(zone, ORIGIN, rdatatype.SOA).rdatas[0]
    zone = parse(HEAD + f"rec {rtype} {text}\n")
    [wire] = rrset_of(zone, "rec.example.test.", dns.rdatatype.from_text(rtype)).rdatas
    return wire


# --- rdata agrees with dnspython -----------------------------------------------------------

RDATA_CASES = [
    ("A", "192.0.2.1"),
    ("AAAA", "2001:db8::1"),
    ("AAAA", "::ffff:192.0.2.1"),
    ("NS", "ns1"),
    ("NS", "ns1.example.net."),
    ("CNAME", "Target.Example.test."),
    ("PTR", "host"),
    ("DNAME", "other.test."),
    ("SOA", "ns1 hostmaster 2026112201 2h 1h 2w 5m"),
    ("SOA", "ns1.example.test. host\\.master.example.test. 1 2 3 4 5"),
    ("MX", "10 Mail"),
    ("MX", "0 ."),
    ("TXT", '"v=spf1 -all"'),
    ("TXT", '"a\\"b" "c\\\\d" "\\065\\000\\255"'),
    ("TXT", "bare words"),
    ("TXT", '""'),
    ("TXT", '"semi;colon (paren)"'),
    ("TXT", '"caf\u00e9"'),
    ("SPF", '"v=spf1 -all"'),
    ("SRV", "10 60 5060 sip"),
    ("SRV", "0 0 0 ."),
    ("CAA", '0 issue "letsencrypt.org"'),
    ("CAA", '128 iodef "mailto:ops@example.test"'),
    ("DS", "12345 13 2 " + "ab" * 32),
    ("SSHFP", "4 2 " + "cd" * 32),
    ("TLSA", "3 1 1 " + "ef" * 32),
    ("NAPTR", '100 10 "U" "E2U+sip" "!^.*$!sip:info@example.test!" .'),
    ("RP", "mbox.example.test. txt.example.test."),
    ("HTTPS", "1 . alpn=h2,h3"),
    ("TYPE65534", "\\# 4 0a000001"),
    ("TYPE65534", "\\# 0"),
    ("TYPE1", "\\# 4 c0000201"),
    ("A", "\\# 4 c0000201"),
    ("MX", "\\# 8 000a046d61696c00"),
]


@pytest.mark.parametrize(
    ("rtype", "text"), RDATA_CASES, ids=[f"{t}:{x[:24]}" for t, x in RDATA_CASES]
)
def test_rdata_bytes_match_dnspython_uncompressed(rtype: str, text: str) -> None:
    assert our_wire(rtype, text) == dnspython_wire(rtype, text)


def test_soa_names_are_not_compressed_against_each_other() -> None:
    # rname shares "example.test." with mname: packed alone it must still be written in full,
    # since a pointer into a scratch buffer would be garbage inside a real message
    wire = our_wire("SOA", "ns1.example.test. hostmaster.example.test. 1 2 3 4 5")
    assert b"\xc0" not in wire[:-20]
    assert wire[:-20] == names.from_text("ns1.example.test.") + names.from_text(
        "hostmaster.example.test."
    )


def _txt_text(strings: list[bytes]) -> str:
    def one(data: bytes) -> str:
        out = []
        for byte in data:
            if byte in b'"\\':
                out.append("\\" + chr(byte))
            elif 0x20 <= byte <= 0x7E:
                out.append(chr(byte))
            else:
                out.append(f"\\{byte:03d}")
        return '"' + "".join(out) + '"'

    return " ".join(one(s) for s in strings)


LABEL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}", fullmatch=True)
NAME = st.one_of(
    st.lists(LABEL, min_size=1, max_size=3).map(".".join),  # relative to the origin
    st.lists(LABEL, min_size=1, max_size=3).map(lambda ls: ".".join(ls) + "."),
)
U16 = st.integers(0, 65535)
RECORD = st.one_of(
    st.ip_addresses(v=4).map(lambda a: ("A", str(a))),
    st.ip_addresses(v=6).map(lambda a: ("AAAA", str(a))),
    st.tuples(U16, NAME).map(lambda t: ("MX", f"{t[0]} {t[1]}")),
    st.tuples(U16, U16, U16, NAME).map(lambda t: ("SRV", " ".join(map(str, t)))),
    st.lists(st.binary(max_size=255), min_size=1, max_size=4).map(lambda s: ("TXT", _txt_text(s))),
    st.tuples(
        st.integers(0, 255),
        st.from_regex(r"[a-z0-9]{1,15}", fullmatch=True),
        st.from_regex(r"[a-zA-Z0-9.:/@-]{0,40}", fullmatch=True),
    ).map(lambda t: ("CAA", f'{t[0]} {t[1]} "{t[2]}"')),
    NAME.map(lambda n: ("CNAME", n)),
)


@given(RECORD)
def test_any_generated_record_matches_dnspython(record: tuple[str, str]) -> None:
    rtype, text = record
    assert our_wire(rtype, text) == dnspython_wire(rtype, text)


# --- the shipped and shared zones ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "zones" / "example.com.zone",
        ZONES / "shared" / "conformance.example.test.zone",
        ZONES / "shared" / "bench.example.test.zone",
        ZONES / "good" / "include.test.zone",
    ],
    ids=["shipped-example.com", "conformance", "bench", "include"],
)
def test_zone_file_matches_dnspython_zone_parser(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = load_zone_file(path)
    monkeypatch.chdir(path.parent)  # dnspython resolves $INCLUDE against the working directory
    theirs = dns.zone.from_file(str(path), relativize=False, allow_include=True)
    expected = {
        (names.from_text(name.to_text()), rds.rdtype): (rds.ttl, {rd.to_wire() for rd in rds})
        for name, node in theirs.nodes.items()
        for rds in node.rdatasets
    }
    got = {
        (owner, rtype): (rrset.ttl, set(rrset.rdatas))
        for owner, node in ours.nodes.items()
        for rtype, rrset in node.rrsets.items()
    }
    assert got == expected


def test_shipped_example_zone_has_what_the_other_tests_rely_on() -> None:
    zone = load_zone_file(ROOT / "zones" / "example.com.zone")
    assert zone.origin_text == "example.com." and zone.source.endswith("example.com.zone")
    www = zone.nodes[names.from_text("www.example.com.")]
    assert set(www.rrsets) == {rdatatype.TXT}  # www is a pool: no static A/AAAA
    assert zone.cuts == {names.from_text("sub.example.com.")}
    big = rrset_of(zone, "big.example.com.", rdatatype.TXT)
    assert sum(len(rd) for rd in big.rdatas) > 512
    assert zone.negative_soa.ttl == 300
    assert rrset_of(zone, "_sip._tcp.example.com.", rdatatype.SRV).targets == (
        names.from_text("sip.example.com."),
    )


# --- syntax: what is accepted ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [
        ("90", 90),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1w", 604800),
        ("2H", 7200),
        ("1w2d3h4m5s", 788645),
        ("2147483647", 2**31 - 1),
    ],
    ids=["seconds", "1h30m", "1d", "1w", "upper-case", "all-units", "max-rfc2181-s8"],
)
def test_ttl_accepts_bind_units(ttl: str, seconds: int) -> None:
    zone = parse(HEAD + f"www {ttl} A 192.0.2.1\n")
    assert rrset_of(zone, "www.example.test.", rdatatype.A).ttl == seconds


@pytest.mark.parametrize(
    ("line", "ttl"),
    [
        ("www A 192.0.2.1", 300),
        ("www IN A 192.0.2.1", 300),
        ("www 60 IN A 192.0.2.1", 60),
        ("www IN 60 A 192.0.2.1", 60),
        ("www CLASS1 A 192.0.2.1", 300),
    ],
    ids=["no-ttl-no-class", "class-only", "ttl-class", "class-ttl", "class1-is-in"],
)
def test_ttl_and_class_are_optional_in_either_order_rfc1035_s5_1(line: str, ttl: int) -> None:
    zone = parse(HEAD + line + "\n")
    assert rrset_of(zone, "www.example.test.", rdatatype.A).ttl == ttl


def test_omitted_ttl_without_ttl_directive_takes_last_explicit_ttl_rfc1035_s5_1() -> None:
    zone = parse(
        "$ORIGIN example.test.\n@ 3600 SOA ns1 host 1 2 3 4 300\n@ 60 NS ns1\nns1 A 192.0.2.53\n"
    )
    assert rrset_of(zone, "ns1.example.test.", rdatatype.A).ttl == 60


def test_omitted_ttl_before_any_ttl_takes_soa_minimum_like_bind_rfc2308_s4() -> None:
    zone = parse("$ORIGIN example.test.\n@ SOA ns1 host 1 2 3 4 900\n@ NS ns1\nns1 A 192.0.2.53\n")
    assert rrset_of(zone, "example.test.", rdatatype.SOA).ttl == 900
    assert rrset_of(zone, "ns1.example.test.", rdatatype.A).ttl == 900


def test_omitted_owner_is_the_previous_owner_rfc1035_s5_1() -> None:
    zone = parse(HEAD + 'www A 192.0.2.1\n  AAAA 2001:db8::1\n\tTXT "x"\n')
    assert set(zone.nodes[names.from_text("www.example.test.")].rrsets) == {1, 28, 16}


def test_names_relative_absolute_and_at_sign_and_origin_changes() -> None:
    zone = parse(
        HEAD + "Mixed.Case A 192.0.2.1\nabs.example.test. A 192.0.2.2\n"
        '$ORIGIN deep.example.test.\nhost A 192.0.2.3\n@ TXT "at"\n'
        "$ORIGIN more\nx A 192.0.2.4\n"
    )
    for owner in (
        "mixed.case.example.test.",
        "abs.example.test.",
        "host.deep.example.test.",
        "x.more.deep.example.test.",
    ):
        assert rdatatype.A in zone.nodes[names.from_text(owner)].rrsets
    assert rdatatype.TXT in zone.nodes[names.from_text("deep.example.test.")].rrsets


def test_origin_comes_from_first_origin_directive_else_the_argument() -> None:
    assert parse(HEAD, origin=None).origin_text == "example.test."
    zone = parse("@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n", origin="other.test")
    assert zone.origin_text == "other.test."


def test_parenthesised_record_spans_lines_with_comments_rfc1035_s5_1() -> None:
    zone = parse(
        "$ORIGIN example.test.\n$TTL 1h\n@ SOA ns1 host ( ; comment\n  7 ; serial\n"
        "  2h 1h\n  2w ; expire\n  5m )\n@ NS ns1\nns1 A 192.0.2.53\n"
        't TXT ( "one" ; (not a paren)\n "two" )\n'
    )
    assert zone.serial == 7
    assert struct.unpack("!IIIII", rrset_of(zone, ORIGIN, rdatatype.SOA).rdatas[0][-20:]) == (
        7,
        7200,
        3600,
        1209600,
        300,
    )
    assert rrset_of(zone, "t.example.test.", rdatatype.TXT).rdatas == (b"\x03one\x03two",)


def test_semicolon_inside_quotes_is_text_not_a_comment() -> None:
    zone = parse(HEAD + 't TXT "a;b" ; real comment\n')
    assert rrset_of(zone, "t.example.test.", rdatatype.TXT).rdatas == (b"\x03a;b",)


def test_identical_records_collapse_and_differing_ttls_take_the_lowest_rfc2181_s5_2() -> None:
    zone = parse(HEAD + "www 60 A 192.0.2.1\nwww 30 A 192.0.2.2\nwww A 192.0.2.1\n")
    rrset = rrset_of(zone, "www.example.test.", rdatatype.A)
    assert rrset.ttl == 30
    assert rrset.rdatas == (b"\xc0\x00\x02\x01", b"\xc0\x00\x02\x02")


def test_targets_for_additional_processing_are_lowercase_keys_rfc1034_s3_6() -> None:
    zone = parse(
        HEAD + "@ NS NS2.Example.Test.\n@ MX 10 Mail\n@ MX 20 mail\n@ MX 30 .\n"
        "_s._tcp SRV 1 2 3 Sip\n_n._tcp SRV 0 0 0 .\n"
    )
    assert rrset_of(zone, ORIGIN, rdatatype.NS).targets == (
        names.from_text("ns1.example.test."),
        names.from_text("ns2.example.test."),
    )
    mx = rrset_of(zone, ORIGIN, rdatatype.MX)
    assert mx.targets == (names.from_text("mail.example.test."),)  # null MX (RFC 7505): none
    assert len(mx.rdatas) == 3  # "Mail" and "mail" keep their case in the rdata
    assert rrset_of(zone, "_s._tcp.example.test.", rdatatype.SRV).targets == (
        names.from_text("sip.example.test."),
    )
    assert rrset_of(zone, "_n._tcp.example.test.", rdatatype.SRV).targets == ()


@pytest.mark.parametrize(
    "extra",
    [
        "sub NS sub\nsub A 192.0.2.7\n",
        "sub NS ns.sub\nns.sub A 192.0.2.7\nns.sub AAAA 2001:db8::7\n",
        "a NS ns.b\nb NS ns.b\nns.b A 192.0.2.7\n",
        "sub NS ns.elsewhere.test.\nsub DS 12345 13 2 " + "ab" * 32 + "\n",
        "www CNAME static\nwww CNAME static\nstatic A 192.0.2.1\n",
    ],
    ids=[
        "glue-at-the-cut",
        "glue-below-the-cut",
        "sibling-glue",
        "ds-at-the-cut",
        "identical-cnames-collapse",
    ],
)
def test_valid_delegations_and_cnames_load_rfc1034_s4_2_1(extra: str) -> None:
    parse(HEAD + extra)


# --- syntax errors: each a problem with its line ----------------------------------------

BAD_SYNTAX = [
    (
        "bad-ipv4",
        "www A 192.0.2.256",
        'A record at "www.example.test.": "192.0.2.256" is not an IPv4 address: '
        "write one like 192.0.2.1",
    ),
    (
        "bad-ipv6",
        "www AAAA 2001:db8::g",
        'AAAA record at "www.example.test.": "2001:db8::g" is not an IPv6 address: '
        "write one like 2001:db8::1",
    ),
    (
        "unknown-type",
        "www FOO bar",
        'unknown type "FOO": use a known type, or TYPEnnn with RFC 3597 \\# rdata',
    ),
    ("meta-type", "www AXFR", "type AXFR cannot be stored in a zone (RFC 6895 §3.1): remove it"),
    ("missing-type", "www 60 IN", "missing type and data: write e.g. A 192.0.2.1 after the owner"),
    (
        "missing-field",
        "@ MX 10",
        'MX record at "example.test.": needs 2 fields (preference exchange), got 1',
    ),
    (
        "extra-field",
        "www A 192.0.2.1 192.0.2.2",
        'A record at "www.example.test.": needs 1 field (address), got 2',
    ),
    (
        "bad-ttl",
        "www 1x A 192.0.2.1",
        'bad TTL "1x" (RFC 1035 §5.1; units s m h d w): write seconds or e.g. 1h30m',
    ),
    (
        "ttl-over-2-31",
        "www 2147483648 A 192.0.2.1",
        "TTL 2147483648 is over 2147483647 (RFC 2181 §8): use a smaller value",
    ),
    (
        "bad-number",
        "@ MX 70000 mail",
        'MX record at "example.test.": bad preference "70000": '
        "write a whole number from 0 to 65535",
    ),
    (
        "bad-soa-timer",
        "@ SOA ns1 host 1 2 3 4 5x",
        'SOA record at "example.test.": SOA timers: bad TTL "5x" (RFC 1035 §5.1; units s m h d w):'
        " write seconds or e.g. 1h30m",
    ),
    (
        "class-ch",
        'www CH TXT "x"',
        "class CH is not served, only IN (RFC 1035 §3.2.4): write IN or leave the class out",
    ),
    (
        "class-hs",
        "www 60 HS A 192.0.2.1",
        "class HS is not served, only IN (RFC 1035 §3.2.4): write IN or leave the class out",
    ),
    (
        "txt-over-255",
        'big TXT "' + "x" * 256 + '"',
        'TXT record at "big.example.test.": string of 256 bytes is over 255 (RFC 1035 §3.3): '
        "split it into several quoted strings",
    ),
    (
        "txt-escape-over-255",
        'www TXT "\\256"',
        'TXT record at "www.example.test.": escape \\256 is over 255 (RFC 1035 §5.1): '
        "use \\000-\\255",
    ),
    (
        "quoted-name",
        '@ NS "ns1"',
        'NS record at "example.test.": takes no quoted strings: remove the quotes',
    ),
    (
        "caa-bad-tag",
        '@ CAA 0 is-sue "x"',
        'CAA record at "example.test.": tag "is-sue" must be letters and digits (RFC 8659 §4.1)',
    ),
    (
        "generic-length",
        "x TYPE65534 \\# 3 0a000001",
        'TYPE65534 record at "x.example.test.": generic rdata has 4 bytes but says 3 (RFC 3597 §5)',
    ),
    (
        "generic-not-hex",
        "x TYPE65534 \\# 1 zz",
        'TYPE65534 record at "x.example.test.": generic rdata "zz" is not hexadecimal '
        "(RFC 3597 §5)",
    ),
    (
        "generic-invalid-for-known-type",
        "x A \\# 5 c000020101",
        'A record at "x.example.test.": generic rdata is not valid A data (RFC 3597 §5)',
    ),
    (
        "no-text-parser",
        'x HINFO "cpu" "os"',
        'HINFO record at "x.example.test.": has no presentation-format parser here: '
        "write it as RFC 3597 generic rdata (\\# length hex)",
    ),
    (
        "bad-owner",
        "a" * 64 + " A 192.0.2.1",
        "bad owner name: label b'aaaaaaaaaaaaaaaaaaaa'... is 64 bytes, over 63 (RFC 1035 §2.3.4)",
    ),
    (
        "bad-rdata-name",
        "@ NS a..b",
        "NS record at \"example.test.\": bad name: empty label in 'a..b'",
    ),
    (
        "unknown-directive",
        "$GENERATE 1-9 host$ A 192.0.2.$",
        "unknown directive $GENERATE: use $ORIGIN, $INCLUDE (RFC 1035 §5.1) or $TTL (RFC 2308 §4)",
    ),
    (
        "bad-ttl-directive",
        "$TTL forever",
        '$TTL: bad TTL "forever" (RFC 1035 §5.1; units s m h d w): write seconds or e.g. 1h30m',
    ),
    ("origin-arguments", "$ORIGIN a. b.", "$ORIGIN takes 1 argument, got 2"),
    (
        "include-without-directory",
        "$INCLUDE other.inc",
        "$INCLUDE needs the file's directory: load the zone with load_zone_file, "
        "or pass include_root",
    ),
    (
        "unterminated-quote",
        'www TXT "open',
        'unterminated quoted string: close it with " on its line',
    ),
    ("unmatched-close-paren", "www A 192.0.2.1 )", "unmatched ): one ( ... ) per record"),
]


@pytest.mark.parametrize(
    ("line", "message"), [c[1:] for c in BAD_SYNTAX], ids=[c[0] for c in BAD_SYNTAX]
)
def test_syntax_error_is_one_problem_at_its_line(line: str, message: str) -> None:
    assert problems_of(HEAD + line + "\n") == [(6, message)]


def test_unclosed_paren_is_reported_where_it_opens() -> None:
    assert problems_of(HEAD + 'www TXT ( "a"\n\n ns1 A 192.0.2.1\n') == [
        (6, "( is never closed: add the )")
    ]


def test_records_after_a_bad_owner_are_not_reported_again() -> None:
    assert problems_of(HEAD + 'a..b A 192.0.2.1\n  TXT "x"\nok A 192.0.2.2\n') == [
        (6, "bad owner name: empty label in 'a..b'")
    ]


def test_first_record_without_owner_or_origin_is_a_problem_rfc1035_s5_1() -> None:
    assert problems_of("  A 192.0.2.1\n", origin=None) == [
        (
            1,
            "no owner name and no record before to take it from (RFC 1035 §5.1): "
            "start the line with a name",
        ),
        (1, "no origin: start the file with $ORIGIN <zone name>."),
    ]


def test_every_problem_is_collected_before_raising_once() -> None:
    text = HEAD + "a A 1.2.3\nb AAAA ::g\nc CNAME a\nc A 192.0.2.1\n"
    assert [line for line, _ in problems_of(text)] == [6, 7, 9]


def test_broken_soa_line_does_not_also_report_a_missing_soa() -> None:
    text = "$ORIGIN example.test.\n@ SOA ns1 host 1 2 3\n@ NS ns1\nns1 A 192.0.2.53\n"
    assert problems_of(text) == [
        (
            2,
            'SOA record at "example.test.": needs 7 fields '
            "(mname rname serial refresh retry expire minimum), got 5",
        )
    ]


# --- load-time zone checks -------------------------------------------------------------

ZONE_CASES = [
    (
        "no-soa",
        "$ORIGIN example.test.\n@ 60 NS ns1\nns1 A 192.0.2.53\n",
        [(1, 'no SOA at the zone apex "example.test." (RFC 1035 §5.2): add one SOA at @')],
    ),
    (
        "two-soas",
        HEAD + "@ SOA ns1 hostmaster 2 7200 3600 1209600 300\n",
        [(6, "second SOA at the zone apex (first at t.zone:3) (RFC 1035 §5.2): keep one")],
    ),
    (
        "soa-below-apex",
        HEAD + "sub SOA ns1 hostmaster 2 7200 3600 1209600 300\n",
        [
            (
                6,
                'SOA at "sub.example.test." is not at the zone apex "example.test." '
                "(RFC 1035 §5.2): move it to @",
            )
        ],
    ),
    (
        "no-apex-ns",
        "$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 host 1 2 3 4 5\nx NS ns1\n",
        [(3, 'no NS at the zone apex "example.test." (RFC 1034 §4.2.1): add @ NS records')],
    ),
    (
        "cname-beside-a",
        HEAD + "www A 192.0.2.1\nwww CNAME static\n",
        [(7, 'CNAME "www.example.test." beside an A record (RFC 1034 §3.6.2): keep one')],
    ),
    (
        "txt-beside-cname",
        HEAD + 'www CNAME static\nwww TXT "x"\nwww MX 1 mail\n',
        [
            (7, 'CNAME "www.example.test." beside a TXT record (RFC 1034 §3.6.2): keep one'),
            (8, 'CNAME "www.example.test." beside an MX record (RFC 1034 §3.6.2): keep one'),
        ],
    ),
    (
        "two-cnames",
        HEAD + "www CNAME a\nwww CNAME b\n",
        [(7, 'second CNAME at "www.example.test." (first at t.zone:6) (RFC 2181 §10.1): keep one')],
    ),
    (
        "cname-at-apex",
        HEAD + "@ CNAME elsewhere.test.\n",
        [
            (
                6,
                'CNAME at the zone apex "example.test.", which has SOA and NS (RFC 1034 §3.6.2): '
                "use A/AAAA records at @ instead",
            )
        ],
    ),
    (
        "out-of-zone",
        HEAD + "www.other.test. A 192.0.2.1\n",
        [
            (
                6,
                'A record at "www.other.test." is outside the zone "example.test." '
                "(out-of-zone data, RFC 1035 §5.2): remove it or move it to its own zone file",
            )
        ],
    ),
    (
        "out-of-zone-parent",
        HEAD + 'test. TXT "x"\n',
        [
            (
                6,
                'TXT record at "test." is outside the zone "example.test." '
                "(out-of-zone data, RFC 1035 §5.2): remove it or move it to its own zone file",
            )
        ],
    ),
    (
        "non-glue-address-below-cut",
        HEAD + "sub NS ns1.sub\nns1.sub A 192.0.2.7\nwww.sub A 192.0.2.8\n",
        [
            (
                8,
                'A record at "www.sub.example.test." is occluded by the delegation to '
                '"sub.example.test." and is not glue: no NS names it (RFC 1034 §4.2.1); '
                "remove it or name it in the NS records",
            )
        ],
    ),
    (
        "data-at-cut",
        HEAD + 'sub NS ns.elsewhere.test.\nsub TXT "x"\nsub A 192.0.2.9\n',
        [
            (
                7,
                'TXT record at "sub.example.test." is occluded by the delegation to '
                '"sub.example.test." (RFC 1034 §4.2.1): only glue belongs at or below a zone cut; '
                "remove it",
            ),
            (
                8,
                'A record at "sub.example.test." is occluded by the delegation to '
                '"sub.example.test." and is not glue: no NS names it (RFC 1034 §4.2.1); '
                "remove it or name it in the NS records",
            ),
        ],
    ),
    (
        "nested-cut-and-wildcard-below-cut",
        HEAD + "sub NS ns.elsewhere.test.\ndeeper.sub NS ns.elsewhere.test.\n*.sub MX 1 mail\n",
        [
            (
                7,
                'NS record at "deeper.sub.example.test." is occluded by the delegation to '
                '"sub.example.test." (RFC 1034 §4.2.1): only glue belongs at or below a zone cut; '
                "remove it",
            ),
            (
                8,
                'MX record at "*.sub.example.test." is occluded by the delegation to '
                '"sub.example.test." (RFC 1034 §4.2.1): only glue belongs at or below a zone cut; '
                "remove it",
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in ZONE_CASES], ids=[c[0] for c in ZONE_CASES]
)
def test_zone_check_reports_exact_problems(text: str, expected: list[tuple[int, str]]) -> None:
    assert problems_of(text) == expected


# --- files: load_zone_file, $INCLUDE, load_zone_dir, merge_reload -------------------------


def test_include_is_relative_to_the_including_file_and_restores_state_rfc1035_s5_1() -> None:
    zone = load_zone_file(ZONES / "good" / "include.test.zone")
    assert rrset_of(zone, "ns1.include.test.", rdatatype.A).ttl == 600
    www = rrset_of(zone, "www.sub.include.test.", rdatatype.A)  # the include's origin argument
    assert www.ttl == 60  # its own $TTL
    assert rrset_of(zone, "include.test.", rdatatype.TXT).ttl == 600  # owner and $TTL restored
    assert rrset_of(zone, "after.include.test.", rdatatype.A).ttl == 600  # origin restored


def test_text_includes_resolve_against_include_root() -> None:
    text = "$ORIGIN include.test.\n@ 60 SOA ns1 host 1 2 3 4 5\n$INCLUDE include.test.ns\n"
    zone = parse_zone_text(text, origin=None, source="t.zone", include_root=ZONES / "good")
    assert rrset_of(zone, "ns1.include.test.", rdatatype.A).ttl == 60


def test_origin_defaults_to_the_file_name_without_dot_zone() -> None:
    zone = load_zone_file(ZONES / "good" / "noorigin.test.zone")
    assert zone.origin == names.from_text("noorigin.test.")
    assert zone.source == str(ZONES / "good" / "noorigin.test.zone")


def test_problems_in_an_included_file_name_that_file() -> None:
    bad = ZONES / "bad"
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(bad / "badinclude.test.zone")
    assert caught.value.problems == (
        Problem(
            f"{bad}/badinclude.inc:2",
            'A record at "www.badinclude.test.": "192.0.2.300" '
            "is not an IPv4 address: write one like 192.0.2.1",
        ),
        Problem(
            f"{bad}/badinclude.test.zone:6",
            f'cannot read $INCLUDE file "{bad}/missing.inc": No such file or directory',
        ),
    )


def test_include_loop_is_a_problem_not_a_hang() -> None:
    bad = ZONES / "bad"
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(bad / "loop.test.zone")
    assert caught.value.problems == (
        Problem(
            f"{bad}/loop.inc:2",
            f'$INCLUDE "{bad}/loop.test.zone" is already being read '
            "(an include loop): remove the loop",
        ),
    )


def test_include_chain_deeper_than_the_limit_is_a_problem(tmp_path: Path) -> None:
    head = HEAD.replace("ns1  A   192.0.2.53\n", "")
    (tmp_path / "deep.test.zone").write_text(
        head.replace("example.test.", "deep.test.") + "$INCLUDE d0.inc\n"
    )
    for i in range(12):
        (tmp_path / f"d{i}.inc").write_text(f"$INCLUDE d{i + 1}.inc\n")
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(tmp_path / "deep.test.zone")
    assert caught.value.problems == (
        Problem(
            f"{tmp_path}/d7.inc:1",
            f'$INCLUDE "{tmp_path}/d8.inc" nests deeper than 8 files: flatten the includes',
        ),
    )


def test_unreadable_zone_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.test.zone"
    path.write_bytes(HEAD.encode() + b'x TXT "caf\xe9"\n')
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(path)
    assert caught.value.problems == (
        Problem(f"{path}:1", "cannot read: not UTF-8 text: save it as UTF-8"),
    )


def test_zone_dir_loads_good_files_beside_a_bad_one_and_refuses_a_second_origin() -> None:
    directory = ZONES / "dir"
    load = load_zone_dir(directory)
    assert sorted(z.origin_text for z in load.zones.values()) == ["a.test.", "c.test."]
    assert load.zones[names.from_text("a.test.")].source == f"{directory}/a.test.zone"
    assert sorted(load.errors) == [f"{directory}/b.test.zone", f"{directory}/dup-of-a.zone"]
    assert load.errors[f"{directory}/b.test.zone"].problems == (
        Problem(
            f"{directory}/b.test.zone:5",
            'A record at "ns1.b.test.": "192.0.2.999" is not an IPv4 address: '
            "write one like 192.0.2.1",
        ),
    )
    assert load.errors[f"{directory}/dup-of-a.zone"].problems == (
        Problem(
            f"{directory}/dup-of-a.zone:1",
            f'zone "a.test." is already loaded from {directory}/a.test.zone: '
            "keep one file per zone",
        ),
    )


def test_missing_zone_dir_raises_instead_of_looking_empty(tmp_path: Path) -> None:
    # an empty ZoneLoad would make merge_reload drop every zone
    with pytest.raises(ZoneFileError) as caught:
        load_zone_dir(tmp_path / "absent")
    assert caught.value.problems == (
        Problem(
            str(tmp_path / "absent"), "cannot list the zone directory: No such file or directory"
        ),
    )


def _zone_text(origin: str, serial: int) -> str:
    return HEAD.replace("example.test.", origin).replace(" 1 7200", f" {serial} 7200")


def test_merge_reload_keeps_previous_zone_of_a_failed_file_and_drops_removed_files(
    tmp_path: Path,
) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.test.zone").write_text(_zone_text(f"{name}.test.", 1))
    first = merge_reload({}, load_zone_dir(tmp_path))
    assert len(first) == 3

    (tmp_path / "a.test.zone").write_text(_zone_text("a.test.", 2))  # good edit: replaced
    (tmp_path / "b.test.zone").write_text(_zone_text("b.test.", 2) + "x A 1.2.3\n")  # broken
    (tmp_path / "c.test.zone").unlink()  # gone
    load = load_zone_dir(tmp_path)
    merged = merge_reload(first, load)

    assert set(load.errors) == {str(tmp_path / "b.test.zone")}
    assert {z.origin_text: z.serial for z in merged.values()} == {"a.test.": 2, "b.test.": 1}
    assert merged[names.from_text("b.test.")] is first[names.from_text("b.test.")]


def test_merge_reload_prefers_a_good_file_now_serving_a_failed_files_origin(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.test.zone").write_text(_zone_text("a.test.", 1))
    previous = merge_reload({}, load_zone_dir(tmp_path))
    (tmp_path / "a.test.zone").write_text("garbage\n")
    (tmp_path / "renamed.zone").write_text(_zone_text("a.test.", 5))
    merged = merge_reload(previous, load_zone_dir(tmp_path))
    assert [(z.source, z.serial) for z in merged.values()] == [(str(tmp_path / "renamed.zone"), 5)]


def test_zone_load_is_a_frozen_value() -> None:
    load = ZoneLoad({}, {})
    with pytest.raises(AttributeError):
        load.zones = {}  # type: ignore[misc]


def test_zone_dir_copy_of_shared_zones_loads(tmp_path: Path) -> None:
    shutil.copy(ZONES / "shared" / "conformance.example.test.zone", tmp_path / "x.zone")
    load = load_zone_dir(tmp_path)
    assert load.errors == {}
    assert [z.origin_text for z in load.zones.values()] == ["example.test."]
