"""geodns judged by Knot DNS (issue 10, "Keep the reference"): knotd and geodns serve the
zone set in tests/data/knot on loopback; thousands of generated queries (every owner and
missing names at every depth, every common type, random case, with and without EDNS and
DO, payloads 512/1232/4096, some over TCP) go to both; the replies must agree in RCODE,
flags, each section as a set of records, and OPT, and geodns' reply may be at most 1.05x
Knot's size for the same content (issue 10 item 1). The differences geodns makes on
purpose are listed in ALLOWED, each by name with the RFC text that allows it; any other
difference fails.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import dns.flags
import dns.rcode
import pytest
from harness import GeodnsProcess, loopback_args, start_geodns
from knot_judge import (
    KNOT_ZONES,
    SIZE_RATIO,
    Ask,
    Difference,
    Knot,
    Record,
    Seen,
    generate,
    judge,
    seen_all,
    zone_names,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUERIES = 3000  # generated, per data plane
SEED = 20261202
# asked beside the generated queries, so that every allowance below meets its case
PLAIN = Ask("mail.fidelity.test.", "A", True, False, 1232, False)  # the planted test's
ALWAYS = [
    PLAIN,
    Ask("cross.fidelity.test.", "A", True, False, 1232, False),  # into peer.test
    Ask("x.moved.fidelity.test.", "A", False, False, 512, False),  # a DNAME into peer.test
    Ask("chain1.fidelity.test.", "A", True, False, 1232, True),  # ten CNAMEs
    Ask("www.fidelity.test.", "ANY", True, False, 1232, False),
    Ask("sip.fidelity.test.", "ANY", True, True, 1232, False),
    Ask("served.fidelity.test.", "NS", True, False, 1232, False),  # ns1 from the parent
    Ask("a.wide.fidelity.test.", "A", False, False, 512, False),  # 14 NS and glue: TC
    Ask("a.wide.fidelity.test.", "A", True, False, 1232, False),  # ... that fits 1232
    Ask("a.wide.fidelity.test.", "A", True, False, 1232, True),
    Ask("served.fidelity.test.", "DS", True, True, 1232, False),  # the parent's DS
    Ask("mx13.fidelity.test.", "MX", False, False, 512, False),  # 13 MX in 512 bytes
    Ask("example.org.", "A", True, False, 1232, False),  # not ours: REFUSED, EDE 20
]
KNOT_CNAME_CHAIN = 5  # the CNAMEs Knot follows in one answer (seen from knotd 3.2)
ORIGINS = zone_names(KNOT_ZONES)[0]
RCODE_BITS = 0x000F
ADDRESS_TYPES = ("A", "AAAA")
TARGET_TYPES = frozenset({"NS", "MX", "SRV"})  # whose targets additional processing follows


def zone_of(name: str) -> str | None:
    """The origin of the zone of ours that holds name (lowercase), if any."""
    best = None
    for origin in ORIGINS:
        if (name == origin or name.endswith("." + origin)) and (
            best is None or len(origin) > len(best)
        ):
            best = origin
    return best


def same_but(ours: Seen, knot: Seen, *fields: str) -> bool:
    """The replies are equal in every compared field but these."""
    ignored = set(fields)
    checks = {
        "rcode": ours.rcode == knot.rcode,
        "flags": (ours.flags & ~RCODE_BITS) == (knot.flags & ~RCODE_BITS),
        "answer": ours.answer == knot.answer,
        "authority": ours.authority == knot.authority,
        "additional": ours.additional == knot.additional,
        "opt": ours.opt == knot.opt,
        "ede": ours.ede == knot.ede,
    }
    return all(ok for field, ok in checks.items() if field not in ignored)


def target_of(record: Record) -> str:
    return record[3].split()[-1]


def named_targets(seen: Seen) -> set[str]:
    """The names additional-section processing follows from answer and authority."""
    return {target_of(r) for r in seen.answer | seen.authority if r[2] in TARGET_TYPES}


def extends(longer: tuple[Record, ...], shorter: tuple[Record, ...]) -> bool:
    return len(longer) > len(shorter) and longer[: len(shorter)] == shorter


# --- the differences geodns makes on purpose ------------------------------------------


def chases_into_another_zone(ask: Ask, ours: Seen, knot: Seen) -> bool:
    """Knot's answer stops at a CNAME (or DNAME) leading into another zone we both serve;
    geodns' continues there, so its RCODE and authority describe the last name, and its
    additional section may hold the addresses the chased part names."""
    last = knot.answer_order[-1] if knot.answer_order else None
    if last is None or last[2] != "CNAME" or knot.authority or knot.rcode != dns.rcode.NOERROR:
        return False
    target = target_of(last)
    if zone_of(target) in (None, zone_of(last[0])):
        return False
    continues = extends(ours.answer_order, knot.answer_order) or (
        ours.answer_order == knot.answer_order and bool(ours.authority)
    )
    return continues and same_but(ours, knot, "rcode", "answer", "authority", "additional")


def follows_a_longer_chain(ask: Ask, ours: Seen, knot: Seen) -> bool:
    """Knot stops after KNOT_CNAME_CHAIN CNAMEs; geodns follows up to 8 hops
    (MAX_CNAME_CHAIN) and answers with what it found at the end."""
    cnames = [r for r in knot.answer_order if r[2] == "CNAME"]
    if len(cnames) != KNOT_CNAME_CHAIN or knot.authority:
        return False
    return extends(ours.answer_order, knot.answer_order) and same_but(
        ours, knot, "rcode", "answer", "authority", "additional"
    )


def any_picks_another_rrset(ask: Ask, ours: Seen, knot: Seen) -> bool:
    """ANY answered with one RRset of the name each, not the same one."""
    if ask.qtype != "ANY":
        return False
    rrsets = [{(r[0], r[2]) for r in side.answer} for side in (ours, knot)]
    one_each = all(len(kinds) == 1 for kinds in rrsets)
    owners_match = rrsets[0] and {o for o, _ in rrsets[0]} == {o for o, _ in rrsets[1]}
    return one_each and bool(owners_match) and same_but(ours, knot, "answer", "additional")


def other_additional_addresses(ask: Ask, ours: Seen, knot: Seen) -> bool:
    """Answer and authority agree; the additional sections hold addresses of the names
    those sections point to (NS, MX, SRV targets), not the same ones."""
    if not same_but(ours, knot, "additional"):
        return False
    wanted = named_targets(ours)
    return all(r[2] in ADDRESS_TYPES and r[0] in wanted for r in ours.additional ^ knot.additional)


def truncated_without_records(ask: Ask, ours: Seen, knot: Seen) -> bool:
    """Both set TC; geodns sends no records in a truncated reply, Knot what fitted."""
    both_tc = ours.flags & knot.flags & dns.flags.TC
    empty = not (ours.answer or ours.authority or ours.additional)
    return bool(both_tc) and empty and same_but(ours, knot, "answer", "authority", "additional")


ALLOWED = [
    Difference(
        "cross-zone CNAME and DNAME chasing",
        "RFC 1034 §4.3.2 step 3a: copy the CNAME RR into the answer section, change QNAME "
        "to the canonical name in the CNAME RR, and go back to step 1 (which searches every "
        "zone the server has); RFC 6604 §3: the RCODE and the authority section describe "
        "the last name in the chain",
        chases_into_another_zone,
    ),
    Difference(
        "CNAME chain length",
        "RFC 1034 §4.3.2 step 3a sets no bound on the chain a server follows; RFC 1034 "
        "§3.6.2: a resolver follows the rest, so where a server stops is its own choice",
        follows_a_longer_chain,
    ),
    Difference(
        "which RRset RFC 8482 ANY returns",
        "RFC 8482 §4.1: a responder may choose a subset of the RRsets at the name; it "
        "SHOULD be one RRset, the choice is the responder's",
        any_picks_another_rrset,
    ),
    Difference(
        "additional-section policy",
        "RFC 1034 §4.3.2 step 6 and RFC 1035 §4.1: the additional section holds RRs that "
        "relate to the query but are not answers; which addresses of named hosts a server "
        "adds (from its other zones, for ANY) is its choice; RFC 2181 §9: leaving them out "
        "needs no TC",
        other_additional_addresses,
    ),
    Difference(
        "content of a truncated reply",
        "RFC 2181 §9: a client that receives a reply with TC set should ignore that "
        "response and ask again over TCP; RFC 7766 §5: the content of the truncated "
        "reply is not to be used",
        truncated_without_records,
    ),
]


@pytest.fixture(scope="module")
def asks() -> list[Ask]:
    return ALWAYS + generate(random.Random(SEED), QUERIES)


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Knot]:
    server = Knot(tmp_path_factory.mktemp("knot"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def knot_replies(knot: Knot, asks: list[Ask]) -> list[Seen]:
    """Knot's replies, asked once for both data planes."""
    return seen_all(asks, knot.host, knot.port)


@pytest.fixture(scope="module")
def geodns(tmp_path_factory: pytest.TempPathFactory, data_plane: str) -> Iterator[GeodnsProcess]:
    workdir = tmp_path_factory.mktemp("geodns-knot")
    zones = workdir / "zones"
    shutil.copytree(KNOT_ZONES, zones)
    server = start_geodns(
        [
            *loopback_args(zones, f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"),
            "--no-geoip",
            "--data-plane",
            data_plane,
        ],
        ready_name="fidelity.test.",
        timeout=60,  # a loaded CI machine; the harness default is for one small zone
    )
    yield server
    server.stop()


def test_geodns_answers_as_knot_does_but_for_the_differences_listed(
    geodns: GeodnsProcess, asks: list[Ask], knot_replies: list[Seen]
) -> None:
    ours = seen_all(asks, geodns.host, geodns.port)
    verdicts: Counter[str] = Counter()
    for ask, mine, theirs in zip(asks, ours, knot_replies, strict=True):
        verdicts[judge(ask, mine, theirs, ALLOWED) or "identical"] += 1
    print(dict(verdicts))  # for the log: how the replies compared
    # every allowance still meets a case (one that no longer does is stale: remove it) ...
    assert {d.name for d in ALLOWED} <= set(verdicts), verdicts
    # ... and together they explain the few differences, not the bulk of the answers
    assert verdicts["identical"] >= 0.85 * len(asks), verdicts


MEASURED = [  # issue 10 item 1's figures: where Knot answered over UDP, so must geodns
    (Ask("mx13.fidelity.test.", "MX", False, False, 512, False), 512),  # RFC 1035 §4.2.1
    (Ask("a.wide.fidelity.test.", "A", True, False, 1232, False), 1232),  # RFC 6891 §7
]


@pytest.mark.parametrize(("ask", "limit"), MEASURED, ids=["13-mx-no-edns", "14-ns-referral-1232"])
def test_what_knot_answers_whole_over_udp_geodns_does_in_as_few_bytes(
    geodns: GeodnsProcess, knot_replies: list[Seen], ask: Ask, limit: int
) -> None:
    """The 13 MX records without EDNS (Knot: 506 bytes) and the referral to 14 name
    servers with glue at EDNS 1232 (Knot: 1,148 bytes) come back whole over UDP, no larger
    than 1.05x Knot's reply, each record of the answer and authority the same as Knot's."""
    [ours] = seen_all([ask], geodns.host, geodns.port)
    theirs = knot_replies[ALWAYS.index(ask)]
    assert not theirs.flags & dns.flags.TC and theirs.size <= limit, theirs  # the premise
    assert not ours.flags & dns.flags.TC, ours
    assert ours.size <= min(limit, SIZE_RATIO * theirs.size), (ours.size, theirs.size)
    assert (ours.answer, ours.authority) == (theirs.answer, theirs.authority)
    assert len(ours.answer | ours.authority) >= 13


def test_a_planted_difference_fails_the_judge(
    geodns: GeodnsProcess, asks: list[Ask], knot_replies: list[Seen]
) -> None:
    """The comparison can fail: a record dropped, a flag flipped, the OPT lost or a reply
    grown past 1.05x Knot's each raise, where the untouched reply passes."""
    ask = PLAIN
    [ours] = seen_all([ask], geodns.host, geodns.port)
    theirs = knot_replies[ALWAYS.index(PLAIN)]
    assert judge(ask, ours, theirs, ALLOWED) is None
    planted = [
        replace(ours, answer=frozenset()),
        replace(ours, flags=ours.flags ^ dns.flags.AA),
        replace(ours, size=int(theirs.size * 1.06) + 1),
        replace(ours, opt=None),
    ]
    for bad in planted:
        with pytest.raises(AssertionError):
            judge(ask, bad, theirs, ALLOWED)
