"""Knot DNS as the judge of geodns' answers (issue 10, "Keep the reference").

The queries, a running knotd of a test's own, and the comparison of two replies to one
query: identical content, or a difference listed in ALLOWED with the RFC text that allows
it; anything else is a fault. Used by tests/e2e/test_knot_differential.py.
"""

from __future__ import annotations

import random
import select
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
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
import dns.zone
from polling import within

KNOT_ZONES = Path(__file__).resolve().parent / "data" / "knot"
SIZE_RATIO = 1.05  # issue 10 item 1: no reply larger than 1.05x Knot's for the same content
QTYPES = [
    "A",
    "AAAA",
    "NS",
    "SOA",
    "MX",
    "TXT",
    "SRV",
    "PTR",
    "CNAME",
    "DNAME",
    "DS",
    "ANY",
    "CAA",
    "TYPE999",
]
PAYLOADS = [512, 1232, 4096]


@dataclass(frozen=True)
class Ask:
    """One generated query and how it travels."""

    qname: str
    qtype: str
    edns: bool
    do: bool
    payload: int
    tcp: bool

    def message(self, qid: int) -> dns.message.Message:
        """The query, with ID qid."""
        query = dns.message.make_query(
            self.qname,
            self.qtype,
            use_edns=0 if self.edns else None,
            want_dnssec=self.do,
            payload=self.payload,
        )
        query.flags &= ~dns.flags.RD  # an authoritative server's client: RD clear
        query.id = qid
        return query


def zone_names(directory: Path) -> tuple[list[str], list[str]]:
    """(origins, owner names) of the zone files, read with dnspython's own zone parser."""
    origins: list[str] = []
    owners: list[str] = []
    for path in sorted(directory.glob("*.zone")):
        origin = path.name.removesuffix("zone")
        zone = dns.zone.from_file(str(path), origin=origin, relativize=False)
        origins.append(origin)
        owners += [n.to_text() for n in zone.nodes]
    return origins, sorted(set(owners))


def random_case(rng: random.Random, name: str) -> str:
    """RFC 4343 / draft-vixie-dnsext-dns0x20: the same name in a random mix of cases."""
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


def generate(rng: random.Random, count: int, directory: Path = KNOT_ZONES) -> list[Ask]:
    """count queries over the zone set: every owner, missing names at every depth below
    and beside them, names outside our zones; every common type; EDNS or not, DO or not,
    several payload sizes; one in eight over TCP."""
    origins, owners = zone_names(directory)
    names = list(owners)
    for owner in owners:
        if owner.startswith("*."):
            names += [f"x.{owner[2:]}", f"a.b.{owner[2:]}"]  # wildcard expansions, deep too
            continue
        names += [f"missing.{owner}", f"a.b.missing.{owner}"]  # NXDOMAIN (or below a cut)
    names += [f"m{i}.{o}" for o in origins for i in range(3)]
    names += ["example.org.", "test.", "fidelity.test.invalid.", "."]  # not ours
    asks = []
    for _ in range(count):
        edns = rng.random() < 0.75
        asks.append(
            Ask(
                random_case(rng, rng.choice(names)),
                rng.choice(QTYPES),
                edns,
                edns and rng.random() < 0.5,
                rng.choice(PAYLOADS),
                rng.random() < 0.125,
            )
        )
    return asks


def free_udp_tcp_port() -> int:
    """A loopback port free for UDP and TCP at the moment of asking."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


class Knot:
    """knotd serving a copy of a zone directory from a configuration in workdir."""

    def __init__(self, workdir: Path, zones: Path = KNOT_ZONES) -> None:
        self.host, self.port = "127.0.0.1", free_udp_tcp_port()
        storage = workdir / "zones"
        shutil.copytree(zones, storage)
        for sub in ("db", "run"):
            (workdir / sub).mkdir()
        entries = "".join(
            f"  - domain: {p.name.removesuffix('.zone')}\n    file: {p.name}\n"
            for p in sorted(storage.glob("*.zone"))
        )
        config = workdir / "knot.conf"
        config.write_text(
            "server:\n"
            f'    rundir: "{workdir / "run"}"\n'
            f"    listen: {self.host}@{self.port}\n"
            "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
            f'database:\n    storage: "{workdir / "db"}"\n'
            "log:\n  - target: stderr\n    any: warning\n"
            "template:\n  - id: default\n"
            f'    storage: "{storage}"\n'
            "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n"
            f"zone:\n{entries}"
        )
        self.log_path = workdir / "knotd.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["knotd", "-c", str(config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready([p.name.removesuffix("zone") for p in storage.glob("*.zone")])

    def _wait_ready(self, origins: list[str], timeout_s: float = 60.0) -> None:
        """Until knotd answers every zone's SOA: it has bound the port and loaded them all
        (a zone it refused to load would answer REFUSED, and fail the comparison)."""
        waiting = list(origins)

        def answered_all() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"knotd exited: {self.log_path.read_text()}")
            try:
                reply = dns.query.udp(
                    dns.message.make_query(waiting[0], "SOA"),
                    self.host,
                    port=self.port,
                    timeout=0.5,
                )
            except (dns.exception.Timeout, OSError):
                return False
            if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                waiting.pop(0)
            return not waiting

        try:
            within(timeout_s, answered_all, "knotd answers every zone's SOA")
        except AssertionError:
            self.stop()
            raise RuntimeError(f"knotd did not answer: {self.log_path.read_text()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def exchange(asks: list[Ask], host: str, port: int, window: int = 64) -> list[tuple[bytes, int]]:
    """Each ask's reply from host:port as (wire, size); query i has ID i. UDP queries go
    out window at a time on one socket (answered in any order, matched by ID), each
    resent once if its reply is lost; TCP ones one connection each."""
    replies: dict[int, bytes] = {}
    udp = [i for i, ask in enumerate(asks) if not ask.tcp]
    wires = [ask.message(i).to_wire() for i, ask in enumerate(asks)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        for attempt in range(2):
            todo = [i for i in udp if i not in replies]
            for at in range(0, len(todo), window):
                batch = set(todo[at : at + window])
                for i in batch:
                    sock.send(wires[i])
                while batch and select.select([sock], [], [], 2.0 if attempt else 0.5)[0]:
                    data = sock.recv(65535)
                    qid = int.from_bytes(data[:2], "big")
                    if qid in batch:
                        replies[qid] = data
                        batch.discard(qid)
    for i, ask in enumerate(asks):
        if ask.tcp:
            with socket.create_connection((host, port), timeout=3) as conn:
                conn.sendall(len(wires[i]).to_bytes(2, "big") + wires[i])
                replies[i] = _read_exactly(conn, int.from_bytes(_read_exactly(conn, 2), "big"))
    missing = [asks[i] for i in range(len(asks)) if i not in replies]
    assert not missing, f"no reply from {host}:{port} to {missing[:3]}"
    return [(replies[i], len(replies[i])) for i in range(len(asks))]


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed mid-message")
        out += chunk
    return out


Record = tuple[str, int, str, str]  # (owner, ttl, type, rdata), lowercase text


def records(section: list[dns.rrset.RRset]) -> frozenset[Record]:
    """A section as a set of records: order and case are not the content (RFC 4343)."""
    return frozenset(
        (r.name.to_text().lower(), r.ttl, dns.rdatatype.to_text(r.rdtype), rd.to_text().lower())
        for r in section
        if r.rdtype != dns.rdatatype.OPT
        for rd in r
    )


@dataclass(frozen=True)
class Seen:
    """One reply as the comparison sees it."""

    rcode: int
    flags: int
    answer: frozenset[Record]
    authority: frozenset[Record]
    additional: frozenset[Record]
    opt: tuple[int, int, int, tuple[tuple[int, bytes], ...]] | None  # version, payload,
    # flags, options (but EDE)
    ede: tuple[int, ...]
    size: int
    answer_order: tuple[Record, ...]

    @classmethod
    def of(cls, message: dns.message.Message, size: int) -> Seen:
        opt = None
        ede: list[int] = []
        if message.edns >= 0:
            options = []
            for option in message.options:
                if isinstance(option, dns.edns.EDEOption):
                    ede.append(int(option.code))
                    continue
                options.append((int(option.otype), option.to_wire()))
            opt = (
                message.edns,
                int(message.payload),
                int(message.ednsflags),
                tuple(sorted(options)),
            )
        order = tuple(
            (r.name.to_text().lower(), r.ttl, dns.rdatatype.to_text(r.rdtype), rd.to_text().lower())
            for r in message.answer
            for rd in r
        )
        return cls(
            message.rcode(),
            int(message.flags),
            records(message.answer),
            records(message.authority),
            records(message.additional),
            opt,
            tuple(ede),
            size,
            order,
        )

    def content(self) -> tuple[object, ...]:
        return (self.rcode, self.flags, self.answer, self.authority, self.additional, self.opt)


Allowance = Callable[[Ask, Seen, Seen], bool]  # (query, geodns, knot) -> explains it


@dataclass(frozen=True)
class Difference:
    """A difference geodns makes on purpose: its name, the RFC text that allows it, and the
    test that recognises it."""

    name: str
    rfc: str
    applies: Allowance


def judge(ask: Ask, ours: Seen, knot: Seen, allowed: list[Difference]) -> str | None:
    """None when the replies agree (and ours is no larger than SIZE_RATIO x Knot's), the
    name of the allowed difference that explains them, or raise AssertionError."""
    if ours.content() == knot.content() and ours.ede == knot.ede:
        assert ours.size <= SIZE_RATIO * knot.size, (ask, ours.size, knot.size)
        return None
    for difference in allowed:
        if difference.applies(ask, ours, knot):
            return difference.name
    raise AssertionError(f"unexplained difference for {ask}:\n geodns {ours}\n knot   {knot}")


def seen_all(asks: list[Ask], host: str, port: int) -> list[Seen]:
    """Every ask's reply from host:port, as the comparison sees it."""
    return [
        Seen.of(dns.message.from_wire(wire, ignore_trailing=False), size)
        for wire, size in exchange(asks, host, port)
    ]
