"""The native and the Python data plane, side by side: the same queries to two real servers
serving the same zones and pools, one per data plane (issue 11 §4).

Where the answer is not drawn the two replies must be the same bytes: static names,
NXDOMAIN, NODATA, CNAME chains, referrals, TC, FORMERR, every policy whose answer is
fixed for the client (sticky, failover, one member), ECS and not, and malformed and
mutated packets, dropped by both or answered alike. Where it is drawn (weighted, round
robin, nearest's random part) every reply must be the same message apart from which
members the answer section holds, those must be members of the pool, and over many
queries of one kind the two servers must give the same set of possible answers, each
answer's share within one percentage point. The server cookie of a reply to a query with
a client cookie is made from each server's own secret (their databases differ) and the
second it was sent (RFC 9018 §4.4): that is the one part of a reply allowed to differ.

A second pair of servers runs with the defences on: RRL (at a rate no burst here reaches,
so that when each packet arrives cannot make the two disagree; the limiting itself is
compared check by check in tests/unit/answer/test_native_rrl.py) and access lists that
deny one of the two loopback sources the packets are sent from: the same bytes again, the
REFUSED + EDE 18 replies included.

Signed (issue 13): two servers, one per plane, sign one zone with the one key of their
shared database; DO queries get the same bytes where nothing is drawn (RFC 6979 ECDSA
and the fixed validity window make signatures deterministic), the same message apart
from the drawn members and their RRSIG where it is, and every reply of either plane
validates (dns.dnssec.validate against the served DNSKEY). The C loop must have served
the signed draws itself, not only Python behind it.
"""

from __future__ import annotations

import random
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from dnssec_checks import validate_message
from harness import (
    DATA,
    MAXMIND,
    ROOT,
    SERVE_ZONES,
    GeodnsProcess,
    apply_pools,
    clean_environ,
    loopback_args,
    start_geodns,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# more pools beside tests/data/pools/example.test.yaml: every policy, and a pool whose
# answer does not fit 512 bytes (TC without EDNS)
EXTRA_POOLS = """
  - name: rr.example.test
    policy: round_robin
    max_answers: 2
    members:
      - {address: 192.0.2.201}
      - {address: 192.0.2.202}
      - {address: 192.0.2.203}
      - {address: 192.0.2.204}
      - {address: "2001:db8::201"}
      - {address: "2001:db8::202"}

  - name: near.example.test
    policy: nearest
    max_answers: 2
    members:
      - {address: 192.0.2.211, latitude: 51.5, longitude: -0.1}
      - {address: 192.0.2.212, latitude: 35.7, longitude: 139.7}
      - {address: 192.0.2.213, latitude: 38.9, longitude: -77.0}
      - {address: 192.0.2.214}

  - name: many.example.test
    max_answers: 8
    members:
""" + "".join(f'      - {{address: "2001:db8::3{i:02x}"}}\n' for i in range(12))

# answers drawn per query: replies to these names may differ in the answer section only
DRAWN = {
    "geo.example.test.",
    "guarded.example.test.",
    "open.example.test.",
    "shares.example.test.",
    "rr.example.test.",
    "near.example.test.",
    "many.example.test.",
}
NAMES = [
    *sorted(DRAWN),
    "example.test.",
    "www.example.test.",
    "alias.example.test.",
    "chain1.example.test.",
    "loop1.example.test.",
    "dangling.example.test.",
    "outside.example.test.",
    "cross.example.test.",
    "tochild.example.test.",  # a CNAME into a delegation: AA from its owner (RFC 6604 §2.1)
    "mail.example.test.",
    "x.wild.example.test.",
    "real.wild.example.test.",
    "deep.ent.wild.example.test.",
    "c.ent.example.test.",
    "a.b.child.example.test.",
    "child.example.test.",
    "big.example.test.",
    "_sip._tcp.example.test.",
    "sticky.example.test.",
    "failover.example.test.",
    "closed.example.test.",
    "www.other.test.",
    "example.org.",
    # DNAME (RFC 6672): the owner, below it (into our other zone, out of our zones, a
    # loop), and a substitution too long (YXDOMAIN)
    "moved.example.test.",
    "www.moved.example.test.",
    "nothing.moved.example.test.",
    "x.away.example.test.",
    "x.ping.example.test.",
    f"{'c' * 63}.{'d' * 63}.long.example.test.",
]
QTYPES = [
    "A",
    "AAAA",
    "ANY",
    "TXT",
    "MX",
    "NS",
    "SOA",
    "SRV",
    "CNAME",
    "DNAME",
    "DS",
    "NSEC",
    "RRSIG",
    "TYPE999",
    "AXFR",
]
NETWORKS = [
    "2.2.3.0/24",
    "175.16.199.0/24",
    "202.196.224.0/24",
    "214.78.120.0/24",
    "10.20.30.0/24",
    "81.2.69.142/32",
    "0.0.0.0/0",
    "2001:218::/56",
    "2001:db8:1::/48",
]
# drawn queries asked many times each, for their shares
SHARE_QUERIES = [
    ("shares.example.test.", "A", None),  # weighted 300:100
    ("geo.example.test.", "A", "2.2.3.0/24"),  # GB: eu, two members in either order
    ("rr.example.test.", "A", None),  # round robin, 2 of 4
]
SHARE_ROUNDS = 150_000  # per query and server: one point is over 5 standard deviations
DETERMINISTIC = 40_000
MUTATED = 20_000
DEFENDED = 10_000  # queries per source for the pair with the defences on
WINDOW = 256


def make_query(
    rng: random.Random, name: str, qtype: str, ecs: str | None, cookie: bool = False
) -> bytes:
    options: list[dns.edns.Option] = []
    if ecs is not None:
        address, prefix = ecs.split("/")
        options.append(dns.edns.ECSOption(address, int(prefix)))
    if cookie:  # RFC 7873: answered by Python on both planes, the cookie added as sent
        options.append(dns.edns.CookieOption(rng.randbytes(8), b""))
    use_edns: int | bool = 0 if options or rng.random() < 0.6 else False
    message = dns.message.make_query(
        name,
        qtype,
        use_edns=use_edns,
        options=options,
        want_dnssec=use_edns is not False and rng.random() < 0.2,
        payload=rng.choice([512, 1232, 4096]),
    )
    if rng.random() < 0.2:
        message.flags &= ~dns.flags.RD
    return message.to_wire()


def generated(rng: random.Random, count: int) -> list[bytes]:
    queries: list[bytes] = []
    while len(queries) < count:
        if queries and rng.random() < 0.3:
            queries.append(rng.choice(queries))  # repeats: the native table's hits
            continue
        name = rng.choice(NAMES) if rng.random() < 0.9 else f"r{rng.randrange(10**6)}.example.test."
        if rng.random() < 0.15:
            name = "".join(c.upper() if rng.random() < 0.4 else c for c in name)  # 0x20
        ecs = rng.choice(NETWORKS) if rng.random() < 0.4 else None
        cookie = rng.random() < 0.1
        queries.append(make_query(rng, name, rng.choice(QTYPES), ecs, cookie))
    return queries


def mutated(rng: random.Random, seeds: list[bytes], count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        packet = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            what = rng.random()
            if what < 0.4 and packet:
                packet[rng.randrange(len(packet))] = rng.randrange(256)
            elif what < 0.6 and packet:
                packet[rng.randrange(len(packet))] ^= 1 << rng.randrange(8)
            elif what < 0.75:
                del packet[rng.randrange(len(packet) + 1) :]
            elif what < 0.9:
                packet += rng.randbytes(rng.randint(1, 16))
            elif len(packet) >= 12:
                packet[rng.choice([4, 5, 6, 7, 8, 9, 10, 11])] = rng.randrange(256)  # counts
        out.append(bytes(packet))
    return out


def unanswerable(packet: bytes) -> bool:
    """No ID to answer to, or QR set: dropped by both (RFC 8906 §3.1.1), never waited for."""
    return len(packet) < 12 or bool(packet[2] & 0x80)


def exchange(
    address: tuple[str, int], packets: list[bytes], source: str = "127.0.0.1"
) -> list[bytes | None]:
    """Each packet's reply (None: none came), WINDOW packets in flight at a time; the ID
    is rewritten to the packet's place so replies are matched, and a packet left
    unanswered is sent again once (a lost datagram is not a drop). A reply to a packet
    that must be dropped is kept too, if it comes while others are awaited."""
    replies: list[bytes | None] = [None] * len(packets)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind((source, 0))
        sock.connect(address)
        for start in range(0, len(packets), WINDOW):
            window = range(start, min(start + WINDOW, len(packets)))
            ids = {i & 0xFFFF: i for i in window}
            todo = [i for i in window]
            for attempt, wait_s in enumerate((0.05, 0.5)):
                for i in todo:
                    packet = packets[i]
                    if len(packet) >= 2:
                        packet = (i & 0xFFFF).to_bytes(2, "big") + packet[2:]
                    sock.send(packet)
                pending = {i for i in todo if not unanswerable(packets[i])}
                while pending and select.select([sock], [], [], wait_s)[0]:
                    data = sock.recv(65535)
                    i = ids.get(int.from_bytes(data[:2], "big"))
                    if i is not None:
                        replies[i] = data
                        pending.discard(i)
                todo = sorted(pending)
                if not todo or attempt:
                    break
    return replies


def server_cookie_masked(reply: bytes | None) -> bytes | None:
    """The reply with its server cookie zeroed: appended at send time, a COOKIE option of
    an 8-byte client and a 16-byte server cookie ends a reply that carries one."""
    if reply is None or reply[-28:-24] != b"\x00\x0a\x00\x18":
        return reply
    return reply[:-16] + bytes(16)


def same_message_but_the_draw(ours: bytes, theirs: bytes, drawn: set[str] = DRAWN) -> bool:
    """Both replies are one message apart from which pool members the answer holds."""
    a, b = dns.message.from_wire(ours), dns.message.from_wire(theirs)
    if (a.id, a.flags, a.rcode(), a.question, a.authority, a.additional) != (
        b.id,
        b.flags,
        b.rcode(),
        b.question,
        b.authority,
        b.additional,
    ) or (a.opt, a.edns, a.ednsflags, a.payload) != (b.opt, b.edns, b.ednsflags, b.payload):
        return False
    if a.question[0].name.to_text().lower() not in drawn:
        return False

    def shape(m: dns.message.Message) -> list[tuple[str, int, int, int]]:
        return [(r.name.to_text().lower(), r.ttl, r.rdtype, len(r)) for r in m.answer]

    return shape(a) == shape(b) and len(ours) == len(theirs)


def start_pair(
    tmp_path_factory: pytest.TempPathFactory, *extra: str
) -> Iterator[dict[str, GeodnsProcess]]:
    started: dict[str, GeodnsProcess] = {}
    try:
        for plane in ("native", "python"):
            workdir = tmp_path_factory.mktemp(f"differential-{plane}")
            zones = workdir / "zones"
            shutil.copytree(SERVE_ZONES, zones)
            pools = workdir / "pools.yaml"
            pools.write_text((DATA / "pools" / "example.test.yaml").read_text() + EXTRA_POOLS)
            database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
            apply_pools(database, zones, pools)
            started[plane] = start_geodns(
                [
                    *loopback_args(zones, database),
                    "--geoip-db",
                    str(MAXMIND / "GeoIP2-City-Test.mmdb"),
                    "--data-plane",
                    plane,
                    *extra,
                ]
            )
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GeodnsProcess]]:
    yield from start_pair(tmp_path_factory)


DEFENCES = ["--rrl-responses-per-second", "1000000", "--rrl-slip", "2", "--rrl-window-s", "5"]
DEFENCES += ["--dns-allow", "127.0.0.0/8", "--dns-deny", "127.0.0.2"]


@pytest.fixture(scope="module")
def defended_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, GeodnsProcess]]:
    yield from start_pair(tmp_path_factory, *DEFENCES)


def native_hits(server: GeodnsProcess) -> float:
    with urllib.request.urlopen(f"{server.api}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('geodns_native_queries_total{outcome="hit"}'):
                return float(line.split()[-1])
    raise AssertionError("no native hit counter")


def test_native_and_python_give_the_same_bytes_wherever_the_answer_is_not_drawn(
    servers: dict[str, GeodnsProcess], tmp_path: Path
):
    rng = random.Random(11)
    queries = generated(rng, DETERMINISTIC)
    packets = queries + mutated(rng, queries, MUTATED) + [b"", b"\x00", b"\x12\x34" * 5]
    native, python = servers["native"], servers["python"]
    ours = exchange((native.host, native.port), packets)
    theirs = exchange((python.host, python.port), packets)
    identical, drawn = compare(packets, ours, theirs)
    assert identical > 0.8 * len(packets) and drawn > 0
    answered = sum(r is not None for r in ours)
    assert answered > 0.9 * len(packets)
    assert native_hits(native) > 0.2 * len(packets)  # C answered, not only Python behind it


def compare(
    packets: list[bytes], ours: list[bytes | None], theirs: list[bytes | None]
) -> tuple[int, int]:
    """(identical, drawn): every pair of replies is the same bytes, or the same message
    but for the members drawn."""
    identical = drawn = 0
    for packet, mine, reference in zip(packets, ours, theirs, strict=True):
        mine, reference = server_cookie_masked(mine), server_cookie_masked(reference)
        if mine == reference:
            identical += 1
            continue
        assert mine is not None and reference is not None, (packet, mine, reference)
        try:
            alike = same_message_but_the_draw(mine, reference)
        except dns.exception.DNSException:
            alike = False
        assert alike, (packet, mine, reference)
        drawn += 1
    return identical, drawn


def test_with_rrl_and_access_lists_on_the_planes_give_the_same_bytes(defended_servers):
    rng = random.Random(12)
    queries = generated(rng, DEFENDED)
    packets = queries + mutated(rng, queries, DEFENDED // 4)
    native, python = defended_servers["native"], defended_servers["python"]
    for source, allowed in (("127.0.0.1", True), ("127.0.0.2", False)):
        ours = exchange((native.host, native.port), packets, source)
        theirs = exchange((python.host, python.port), packets, source)
        identical, drawn = compare(packets, ours, theirs)
        assert identical > 0.8 * len(packets) and (drawn > 0) is allowed
        refused = [r for r in ours if r is not None and r[3] & 0x0F == dns.rcode.REFUSED]
        if not allowed:  # RFC 8914 §4.19: every readable query refused, as Prohibited
            assert len(refused) > 0.8 * len(queries)
    assert native_hits(native) > 0.2 * len(packets)  # C answered, not only Python behind it


@pytest.mark.parametrize(("name", "qtype", "ecs"), SHARE_QUERIES, ids=lambda v: str(v))
def test_drawn_answers_are_the_same_set_with_shares_within_one_point(servers, name, qtype, ecs):
    query = make_query(random.Random(5), name, qtype, ecs)
    tallies = {}
    for plane, server in servers.items():
        replies = exchange((server.host, server.port), [query] * SHARE_ROUNDS)
        got = [r[2:] for r in replies if r is not None]  # the ID aside, only the draw differs
        assert len(got) > 0.99 * SHARE_ROUNDS
        tallies[plane] = (Counter(got), len(got))
    (ours, n_ours), (theirs, n_theirs) = tallies["native"], tallies["python"]
    assert set(ours) == set(theirs)
    for answer in theirs:
        assert abs(ours[answer] / n_ours - theirs[answer] / n_theirs) < 0.01


SIGNED_ZONE = "signed.test."
SIGNED_SECRET = "differential-" + "s" * 32
# beside tests/data/dnssec/pools.yaml: draws the C loop signs (sets it looks up by mask)
SIGNED_EXTRA_POOLS = """
  - name: rr.signed.test
    policy: round_robin
    max_answers: 2
    members:
      - {address: 192.0.2.101}
      - {address: 192.0.2.102}
      - {address: 192.0.2.103}
  - name: shares.signed.test
    max_answers: 2
    members:
      - {address: 192.0.2.111, weight: 300}
      - {address: 192.0.2.112, weight: 100}
      - {address: 192.0.2.113, weight: 100}
      - {address: 192.0.2.114, weight: 50}
"""
# to-pool: a CNAME to weighted, so its answer is drawn too
SIGNED_DRAWN = {"weighted.signed.test.", "rr.signed.test.", "shares.signed.test."}
SIGNED_DRAWN |= {"to-pool.signed.test."}
SIGNED_NAMES = [
    *sorted(SIGNED_DRAWN),
    "geo.signed.test.",
    "failover.signed.test.",
    "www.signed.test.",
    "x.wild.signed.test.",
    "nowhere.signed.test.",
    "secure.signed.test.",
]
SIGNED_QUERIES = 6000


@pytest.fixture(scope="module")
def signed_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, GeodnsProcess]]:
    workdir = tmp_path_factory.mktemp("differential-signed")
    zones = workdir / "zones"
    shutil.copytree(DATA / "dnssec", zones, ignore=shutil.ignore_patterns("*.yaml"))
    pools = workdir / "pools.yaml"
    pools.write_text((DATA / "dnssec" / "pools.yaml").read_text() + SIGNED_EXTRA_POOLS)
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    apply_pools(database, zones, pools)
    enabled = subprocess.run(
        [sys.executable, "-m", "geodns", "dnssec", "enable", SIGNED_ZONE, "--zones", str(zones)],
        capture_output=True,
        text=True,
        env=clean_environ(
            {"GEODNS_DATABASE_URL": database, "GEODNS_DNSSEC_KEY_SECRET": SIGNED_SECRET}
        ),
        cwd=ROOT,
        timeout=60,
    )
    assert enabled.returncode == 0, enabled.stderr
    started: dict[str, GeodnsProcess] = {}
    try:
        for plane in ("native", "python"):
            started[plane] = start_geodns(
                [
                    *loopback_args(zones, database),
                    *("--data-plane", plane),
                    *("--geoip-db", str(MAXMIND / "GeoIP2-City-Test.mmdb")),
                ],
                env={"GEODNS_DNSSEC_KEY_SECRET": SIGNED_SECRET},
                ready_name=SIGNED_ZONE,
            )
        yield started
    finally:
        for server in started.values():
            server.stop()


def signed_query(rng: random.Random) -> bytes:
    name = rng.choice(SIGNED_NAMES)
    options = [dns.edns.ECSOption(*rng.choice([("2.2.3.0", 24), ("81.2.69.0", 24)]))]
    message = dns.message.make_query(
        name,
        rng.choice(["A", "A", "A", "AAAA", "MX"]),
        use_edns=0,
        want_dnssec=True,
        options=options if rng.random() < 0.3 else [],
        payload=rng.choice([512, 1232, 4096]),
    )
    return message.to_wire()


def served_dnskey(server: GeodnsProcess) -> dict[dns.name.Name, dns.rrset.RRset]:
    query = dns.message.make_query(SIGNED_ZONE, "DNSKEY", use_edns=0, want_dnssec=True)
    reply = dns.query.udp(query, server.host, port=server.port, timeout=5)
    [dnskey] = [r for r in reply.answer if r.rdtype == dns.rdatatype.DNSKEY]
    return {dnskey.name: dnskey}


def test_signed_answers_differ_between_planes_only_in_the_draw_and_all_validate(signed_servers):
    rng = random.Random(13)
    queries = [signed_query(rng) for _ in range(SIGNED_QUERIES)]
    native, python = signed_servers["native"], signed_servers["python"]
    keys = served_dnskey(python)
    assert served_dnskey(native) == keys  # one key, from the shared database
    hits_before = native_hits(native)
    ours = exchange((native.host, native.port), queries)
    theirs = exchange((python.host, python.port), queries)
    now = time.time()
    identical = drawn = 0
    sets: dict[str, set[frozenset[str]]] = {"native": set(), "python": set()}
    for packet, mine, reference in zip(queries, ours, theirs, strict=True):
        assert mine is not None and reference is not None, packet
        for plane, wire in (("native", mine), ("python", reference)):
            message = dns.message.from_wire(wire)
            if message.flags & dns.flags.TC:
                continue  # RFC 6891 §7: too big for the payload; nothing to validate
            good, unsigned = validate_message(message, keys, now)
            # RFC 4035 §2.2: a referral's NS and glue are the child's, never signed here
            unsigned = [u for u in unsigned if not u[0].endswith("secure.signed.test.")]
            assert good and unsigned == [], (plane, message)
            name = message.question[0].name.to_text()
            if name in SIGNED_DRAWN and message.answer:
                sets[plane].add(frozenset(r.to_text() for r in message.answer[0]))
        if mine == reference:
            identical += 1
            continue
        assert same_message_but_the_draw(mine, reference, SIGNED_DRAWN), (packet, mine, reference)
        drawn += 1
    assert identical > 0.3 * len(queries) and drawn > 0.1 * len(queries)
    assert sets["native"] == sets["python"]  # every drawn set, signed, from either plane
    # most signed draws answered by the C loop itself
    assert native_hits(native) - hits_before > 0.5 * len(queries)
