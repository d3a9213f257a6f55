"""resolve(): RFC 1034 §4.3.2 over one snapshot, as an Answer (no bytes yet)."""

from __future__ import annotations

from pathlib import Path

import dns.message
import pytest

from geodns.answer.context import QueryContext, Transport
from geodns.answer.resolve import Kind, prohibited, resolve
from geodns.dns import names, rcode, rdatatype
from geodns.dns.wire import decode_query
from geodns.dns.zonefile import load_zone_dir
from geodns.pools.model import HealthView
from geodns.pools_file import load_pools_file
from geodns.snapshot import Snapshot, build_snapshot

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    zones = load_zone_dir(DATA / "serve").zones
    pools = load_pools_file(DATA / "pools" / "example.test.yaml")
    return build_snapshot(1, zones, pools, HealthView(), None)


def ask(snapshot: Snapshot, name: str, rdtype: str, **kwargs: object):
    wire = dns.message.make_query(name, rdtype, **kwargs).to_wire()  # type: ignore[arg-type]
    return resolve(QueryContext(decode_query(wire), "192.0.2.1", Transport.UDP), snapshot)


def owners(items) -> list[str]:
    return [names.to_text(owner) for owner, _ in items]


CASES = [
    # (name, type, rcode, kind, aa)
    ("mail.example.test.", "A", rcode.NOERROR, Kind.POSITIVE, True),
    ("mail.example.test.", "MX", rcode.NOERROR, Kind.NODATA, True),  # RFC 2308 §2.2
    ("c.ent.example.test.", "A", rcode.NOERROR, Kind.NODATA, True),  # empty non-terminal
    ("nothing.example.test.", "A", rcode.NXDOMAIN, Kind.NXDOMAIN, True),
    ("a.b.child.example.test.", "A", rcode.NOERROR, Kind.REFERRAL, False),  # §4.3.2 step 3b
    ("www.example.org.", "A", rcode.REFUSED, Kind.ERROR, False),  # not ours
    ("x.wild.example.test.", "A", rcode.NOERROR, Kind.POSITIVE, True),  # RFC 4592
    ("closed.example.test.", "AAAA", rcode.NOERROR, Kind.NODATA, True),  # pool lacks the family
]


@pytest.mark.parametrize(
    "name, rdtype, code, kind, aa", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES]
)
def test_every_answer_is_classified_as_rate_limiting_and_metrics_group_it(
    snapshot, name, rdtype, code, kind, aa
):
    answer = ask(snapshot, name, rdtype)
    assert (answer.rcode, answer.kind, answer.aa) == (code, kind, aa)


def test_negative_answers_carry_the_zone_soa_with_the_negative_ttl_rfc2308_3(snapshot):
    answer = ask(snapshot, "nothing.example.test.", "A")
    [(owner, soa)] = answer.authority
    assert owner == names.from_text("example.test.") and soa.rtype == rdatatype.SOA
    assert soa.ttl == 300  # min(SOA TTL 3600, MINIMUM 300)


def test_a_cname_chain_is_followed_inside_our_zones_rfc1034_4_3_2_step_3a(snapshot):
    answer = ask(snapshot, "chain1.example.test.", "A")
    assert owners(answer.answer) == ["chain1.example.test.", "chain2.example.test."]
    assert answer.pool is not None and owners([(answer.pool_owner, None)]) == ["www.example.test."]


def test_a_cname_loop_stops_and_answers_what_it_has(snapshot):
    answer = ask(snapshot, "loop1.example.test.", "A")
    assert owners(answer.answer) == ["loop1.example.test.", "loop2.example.test."]
    assert answer.rcode == rcode.NOERROR


def test_a_wildcard_answer_is_owned_by_the_query_name_and_marked_rfc4592_3_3(snapshot):
    answer = ask(snapshot, "x.wild.example.test.", "A")
    assert owners(answer.answer) == ["x.wild.example.test."] and answer.wildcard


def test_a_referral_lists_required_in_domain_glue_first_rfc9471_3(snapshot):
    answer = ask(snapshot, "a.b.child.example.test.", "A")
    assert owners(answer.authority) == ["child.example.test."]
    assert owners(answer.additional) == [
        "ns1.child.example.test.",
        "ns2.child.example.test.",
        "ns2.child.example.test.",
    ]
    assert answer.required_additional == 3


def test_a_pool_answer_holds_the_prepared_selection_not_drawn_members(snapshot):
    answer = ask(snapshot, "shares.example.test.", "A")
    assert answer.answer == [] and answer.prepared is not None
    assert answer.prepared.draw.size == 1 and answer.scope_prefix == 0


def test_edns_version_above_zero_is_badvers_before_anything_else_rfc6891_6_1_3(snapshot):
    answer = ask(snapshot, "nothing.example.org.", "A", use_edns=1)
    assert answer.rcode == rcode.BADVERS


def test_a_name_outside_our_zones_is_refused_with_ede_not_authoritative_rfc8914_4_21(snapshot):
    answer = ask(snapshot, "www.example.org.", "A", use_edns=0)
    assert answer.rcode == rcode.REFUSED and not answer.aa
    assert answer.extended_error is not None
    assert answer.extended_error.info_code == 20


def test_prohibited_is_refused_with_ede_18_for_the_defences_rfc8914_4_19():
    answer = prohibited()
    assert (answer.rcode, answer.aa, answer.kind) == (rcode.REFUSED, False, Kind.ERROR)
    assert answer.extended_error is not None and answer.extended_error.info_code == 18
