"""The defences as both answer paths apply them: access lists before the cache, the slip
form of a rate-limited answer, TCP never limited."""

from __future__ import annotations

import random
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from geodns.answer.acl import AccessList, DenyAction
from geodns.answer.cache import CachingAnswerer
from geodns.answer.context import Transport
from geodns.answer.defences import Defences
from geodns.answer.packet import PacketAnswerer
from geodns.answer.rrl import RateLimiter, RrlConfig
from geodns.dns.zonefile import load_zone_dir
from geodns.pools.model import HealthView
from geodns.pools_file import load_pools_file
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot

DATA = Path(__file__).resolve().parents[2] / "data"
ANSWERERS = [CachingAnswerer, PacketAnswerer]


def holder() -> SnapshotHolder:
    zones = load_zone_dir(DATA / "serve").zones
    pools = load_pools_file(DATA / "pools" / "example.test.yaml")
    cell = SnapshotHolder(empty_snapshot())
    cell.publish(build_snapshot(1, zones, pools, HealthView(), None))
    return cell


def wire(name: str, rdtype: str = "A", **kwargs: object) -> bytes:
    return dns.message.make_query(name, rdtype, **kwargs).to_wire()  # type: ignore[arg-type]


@pytest.mark.parametrize("answerer", ANSWERERS, ids=lambda a: a.__name__)
def test_a_denied_source_is_refused_with_ede_18_even_when_the_answer_is_cached(answerer):
    defences = Defences(access=AccessList(deny=["192.0.2.0/24"]))
    answer = answerer(holder(), random.Random(1), defences=defences)
    query = wire("mail.example.test.", use_edns=0)
    allowed = dns.message.from_wire(answer(query, "198.51.100.1", Transport.UDP))
    assert allowed.answer  # and now it is cached
    for transport in Transport:
        refused = dns.message.from_wire(answer(query, "192.0.2.9", transport))
        assert refused.rcode() == dns.rcode.REFUSED and not refused.answer
        assert [o.code for o in refused.options if isinstance(o, dns.edns.EDEOption)] == [18]
    assert defences.denied == {"refuse": 2}


@pytest.mark.parametrize("answerer", ANSWERERS, ids=lambda a: a.__name__)
def test_the_drop_action_sends_nothing(answerer):
    defences = Defences(access=AccessList(allow=["10.0.0.0/8"]), deny_action=DenyAction.DROP)
    answer = answerer(holder(), random.Random(1), defences=defences)
    assert answer(wire("mail.example.test."), "192.0.2.9", Transport.UDP) is None
    assert answer(wire("mail.example.test."), "10.1.1.1", Transport.UDP) is not None
    assert defences.denied == {"drop": 1}


def limited(slip: int) -> Defences:
    return Defences(
        limiter=RateLimiter(RrlConfig(responses_per_second=1, slip=slip)), clock=lambda: 1000.0
    )


@pytest.mark.parametrize("answerer", ANSWERERS, ids=lambda a: a.__name__)
def test_a_slipped_answer_is_the_truncated_form_with_the_rcode_kept(answerer):
    answer = answerer(holder(), random.Random(1), defences=limited(slip=1))
    for name, rcode in (("mail.example.test.", dns.rcode.NOERROR), ("no.example.test.", 3)):
        query = wire(name, use_edns=0, payload=1232)
        first = dns.message.from_wire(answer(query, "192.0.2.1", Transport.UDP))
        assert not first.flags & dns.flags.TC and (first.answer or first.authority)
        slipped = dns.message.from_wire(answer(query, "192.0.2.1", Transport.UDP))
        assert slipped.flags & dns.flags.TC and slipped.rcode() == rcode
        assert (slipped.answer, slipped.authority, slipped.additional) == ([], [], [])
        assert slipped.edns == 0 and slipped.id == dns.message.from_wire(query).id


@pytest.mark.parametrize("answerer", ANSWERERS, ids=lambda a: a.__name__)
def test_a_limited_error_is_dropped_not_slipped(answerer):
    answer = answerer(holder(), random.Random(1), defences=limited(slip=1))
    query = wire("www.example.org.")  # REFUSED: not ours
    assert dns.message.from_wire(answer(query, "192.0.2.1", Transport.UDP)).rcode() == 5
    assert answer(query, "192.0.2.1", Transport.UDP) is None


@pytest.mark.parametrize("answerer", ANSWERERS, ids=lambda a: a.__name__)
def test_tcp_is_never_limited(answerer):
    defences = limited(slip=0)
    answer = answerer(holder(), random.Random(1), defences=defences)
    for _ in range(10):
        assert answer(wire("mail.example.test."), "192.0.2.1", Transport.TCP) is not None
    assert defences.limiter is not None and defences.limiter.size == 0
