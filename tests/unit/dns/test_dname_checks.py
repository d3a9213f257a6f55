"""Load-time DNAME rules (RFC 6672 §2.4): each refusal at the record's file:line, and a
zone directory whose edited file breaks them keeps serving the file's previous zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodns.dns import names, rdatatype
from geodns.dns.zonefile import load_zone_dir, merge_reload, parse_zone_text
from geodns.errors import ZoneFileError

HEAD = """$ORIGIN example.test.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.53
"""  # lines 1-5: a valid zone; cases append from line 6


def problems_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ZoneFileError) as caught:
        parse_zone_text(text, origin=None, source="t.zone", include_root=None)
    out = []
    for problem in caught.value.problems:
        path, _, line = problem.where.rpartition(":")
        assert path == "t.zone"
        out.append((int(line), problem.message))
    return out


CASES = [
    (
        "dname-beside-cname",
        HEAD + "old CNAME www\nold DNAME new.test.\n",
        [(7, 'CNAME "old.example.test." beside a DNAME record (RFC 6672 §2.4): keep one')],
    ),
    (
        "two-dnames",
        HEAD + "old DNAME new.test.\nold DNAME newer.test.\n",
        [
            (
                7,
                'second DNAME at "old.example.test." (first at t.zone:6) (RFC 6672 §2.4): keep one',
            )
        ],
    ),
    (
        "data-below-a-dname",
        HEAD + 'old DNAME new.test.\nwww.old A 192.0.2.1\n*.x.old TXT "w"\n',
        [
            (
                7,
                'A record at "www.old.example.test." is below the DNAME at "old.example.test." '
                "(t.zone:6) (RFC 6672 §2.4): queries there are redirected, so it can never be "
                "answered; remove it",
            ),
            (
                8,
                'TXT record at "*.x.old.example.test." is below the DNAME at "old.example.test." '
                "(t.zone:6) (RFC 6672 §2.4): queries there are redirected, so it can never be "
                "answered; remove it",
            ),
        ],
    ),
    (
        "data-below-an-apex-dname",
        HEAD + "@ DNAME new.test.\n",
        [
            (
                5,
                'A record at "ns1.example.test." is below the DNAME at "example.test." '
                "(t.zone:6) (RFC 6672 §2.4): queries there are redirected, so it can never be "
                "answered; remove it",
            )
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_dname_zone_rules_are_refused_at_file_line_rfc6672_2_4(text, expected):
    assert problems_of(text) == expected


def test_a_dname_beside_other_data_and_an_identical_repeat_load_rfc6672_2_4():
    zone = parse_zone_text(
        HEAD + 'old DNAME new.test.\nold TXT "kept"\nold DNAME new.test.\n',
        origin=None,
        source="t.zone",
        include_root=None,
    )
    old = names.from_text("old.example.test.")
    assert zone.dnames == frozenset({old})
    assert len(zone.nodes[old].rrsets[rdatatype.DNAME]) == 1
    assert set(zone.nodes[old].rrsets) == {rdatatype.DNAME, rdatatype.TXT}


def test_a_reload_that_adds_data_below_a_dname_keeps_the_old_zone_serving(tmp_path: Path):
    path = tmp_path / "example.test.zone"
    path.write_text(HEAD + "old DNAME new.test.\n")
    first = merge_reload({}, load_zone_dir(tmp_path))
    path.write_text(HEAD + "old DNAME new.test.\nwww.old A 192.0.2.1\n")
    load = load_zone_dir(tmp_path)
    assert [p.where for p in load.errors[str(path)].problems] == [f"{path}:7"]
    assert merge_reload(first, load) == first
