"""A million fuzzed UDP packets at a real geodns, on each data plane: crashes, unanswered
valid queries and malformed replies counted (issue 12 §7; every count must be 0).

    .venv/bin/python bench/fuzz.py                       # 1,000,000 packets per plane
    .venv/bin/python bench/fuzz.py --packets 100000 --planes python

geodns serves bench/example.test.zone and bench/pools.yaml (the run.sh scenario) on a
loopback address, with cookies (on by default) and an NSID, on the python and then the
native data plane. A corpus of valid queries (the static name, the pool, names that do
not exist, other types, EDNS with DO, ECS, COOKIE with and without a server cookie,
NSID) is mutated: bytes overwritten and bit-flipped, cut short, extended, inserted,
header counts changed, option lengths changed; some packets are random bytes. After
every burst of BURST fuzzed packets one valid query (a fresh ID, from its own socket)
must be answered within TIMEOUT_S. Every reply, to a valid query or a fuzzed one, must
parse (dnspython) and answer the question it was asked; a valid query's reply must hold
its answer and, when it sent a client cookie, that cookie back with a 16-byte server
cookie. At the end the process must still be running, answer once more, and its
/metrics must show no answer-path failure (a bug answered SERVFAIL). Prints a markdown
table.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import dns.edns  # noqa: E402
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
from native_fuzz import mutate  # noqa: E402  one mutator for the sanitizer run and this

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GEODNS = ROOT / ".venv" / "bin" / "geodns"
ADDRESS = "127.0.0.17"
BURST = 100  # fuzzed packets between two valid queries
TIMEOUT_S = 2.0  # a valid query unanswered this long counts as unanswered
NAMES = [
    ("static.example.test.", "A"),
    ("www.example.test.", "A"),
    ("www.example.test.", "AAAA"),
    ("example.test.", "SOA"),
    ("example.test.", "NS"),
    ("example.test.", "ANY"),
    ("nothing.example.test.", "A"),
    ("elsewhere.invalid.", "A"),
]

ANSWERED = [NAMES[0], NAMES[1], NAMES[3], NAMES[4]]  # what the valid queries ask: answers


@dataclass
class Counts:
    plane: str
    packets: int = 0
    valid: int = 0
    unanswered: int = 0
    malformed: int = 0  # replies that do not parse, or answer another question
    replies: int = 0  # replies to fuzzed packets
    wrong_answers: int = 0  # valid queries answered without their answer or cookie
    crashed: bool = False
    failures: int = 0  # geodns_query_failures_total: bugs answered SERVFAIL
    seconds: float = 0.0


def corpus(rng: random.Random) -> list[bytes]:
    out = []
    for name, rdtype in NAMES:
        for _ in range(12):
            options: list[dns.edns.Option] = []
            if rng.random() < 0.4:
                options.append(dns.edns.ECSOption(f"2.{rng.randrange(256)}.3.0", 24))
            if rng.random() < 0.5:
                server = rng.randbytes(rng.choice([0, 16, 8, 32]))
                options.append(dns.edns.CookieOption(rng.randbytes(8), server))
            if rng.random() < 0.3:
                options.append(dns.edns.NSIDOption(b""))
            edns = 0 if options or rng.random() < 0.7 else False
            query = dns.message.make_query(
                name, rdtype, use_edns=edns, options=options, want_dnssec=rng.random() < 0.2
            )
            query.id = rng.randrange(65536)
            out.append(query.to_wire())
    return out


def fuzzed(rng: random.Random, packets: list[bytes]) -> bytes:
    kind = rng.random()
    if kind < 0.03:
        return rng.randbytes(rng.randrange(0, 64))
    return mutate(rng, rng.choice(packets))


def question_end(packet: bytes) -> int:
    """Where the first question of packet ends (0: it has none that can be read)."""
    offset = 12
    while offset < len(packet):
        length = packet[offset]
        if length == 0:
            return offset + 5 if offset + 5 <= len(packet) else 0
        if length > 63:
            return 0
        offset += length + 1
    return 0


def reply_is_sound(sent: bytes, data: bytes) -> bool:
    """A reply that parses and answers the packet it was sent for: its ID, and its
    question byte for byte when it has one (FORMERR may leave it out)."""
    if len(data) >= 4 and (data[2] >> 3) & 0xF == dns.opcode.UPDATE:
        # RFC 1035 §4.1.1: the opcode is copied into the reply, so an UPDATE (refused:
        # NOTIMP, or FORMERR) comes back as one; dnspython reads its question section as
        # RFC 2136's zone section, which must be of type SOA, and refuses anything else
        # as malformed. Read such a reply as a QUERY's: the other bytes are the same.
        data = data[:2] + bytes([data[2] & 0x87]) + data[3:]
    try:
        reply = dns.message.from_wire(data)
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return False
    if not reply.flags & dns.flags.QR or sent[:2] != data[:2]:
        return False
    if reply.question:
        end = question_end(sent)
        return end > 0 and data[12:end] == sent[12:end]
    return True


def valid_query(rng: random.Random) -> tuple[dns.message.Message, bytes | None]:
    name, rdtype = rng.choice(ANSWERED)
    client = rng.randbytes(8) if rng.random() < 0.5 else None
    options = [dns.edns.CookieOption(client, b"")] if client is not None else []
    query = dns.message.make_query(name, rdtype, use_edns=0, options=options)
    return query, client


def answer_is_right(reply: dns.message.Message, client: bytes | None) -> bool:
    if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
        return False
    if client is None:
        return True
    cookies = [o for o in reply.options if isinstance(o, dns.edns.CookieOption)]
    return len(cookies) == 1 and cookies[0].client == client and len(cookies[0].server) == 16


def failures_of(api: str) -> int:
    with urllib.request.urlopen(api + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        int(float(n)) for n in re.findall(r"^geodns_query_failures_total\{.*\} (\S+)", text, re.M)
    )


def run_plane(plane: str, packets: int, seed: int, work: Path, port: int) -> Counts:
    rng = random.Random(seed)
    zones = work / "zones"
    database = f"sqlite+aiosqlite:///{work / f'{plane}.db'}"
    subprocess.run(
        [GEODNS, "pools", "apply", BENCH / "pools.yaml", "--database", database,
         "--zones", zones, "--log-level", "warning"],
        check=True,
    )  # fmt: skip
    api_port = port + 1000
    server = subprocess.Popen(
        [GEODNS, "serve", "--dns", f"{ADDRESS}:{port}", "--api", f"{ADDRESS}:{api_port}",
         "--zones", zones, "--database", database, "--no-geoip", "--nsid", "fuzz-node",
         "--data-plane", plane, "--log-level", "warning"],
    )  # fmt: skip
    counts = Counts(plane)
    target = (ADDRESS, port)
    packets_corpus = corpus(rng)
    fuzz = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fuzz.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    fuzz.setblocking(False)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        wait_until_answering(probe, target)
        started = time.monotonic()
        sent = Sent()
        while counts.packets < packets:
            sent.next_burst()
            for _ in range(min(BURST, packets - counts.packets)):
                packet = fuzzed(rng, packets_corpus)
                fuzz.sendto(packet, target)
                sent.add(packet)
                counts.packets += 1
            query, client = valid_query(rng)
            counts.valid += 1
            reply = ask(probe, target, query)
            if reply is None:
                counts.unanswered += 1
            elif not answer_is_right(reply, client):
                counts.wrong_answers += 1
            drain(fuzz, sent, counts)
            if server.poll() is not None:
                counts.crashed = True
                break
        counts.seconds = time.monotonic() - started
        time.sleep(0.2)
        drain(fuzz, sent, counts)
        if server.poll() is not None or ask(probe, target, valid_query(rng)[0]) is None:
            counts.crashed = True
        else:
            counts.failures = failures_of(f"http://{ADDRESS}:{api_port}")
    finally:
        server.terminate()
        server.wait(10)
        fuzz.close()
        probe.close()
    return counts


def wait_until_answering(sock: socket.socket, target: tuple[str, int]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ask(sock, target, dns.message.make_query("example.test.", "SOA"), 0.2) is not None:
            return
    raise SystemExit(f"geodns did not answer at {target}")


def ask(
    sock: socket.socket,
    target: tuple[str, int],
    query: dns.message.Message,
    timeout: float = TIMEOUT_S,
) -> dns.message.Message | None:
    query.id = random.randrange(65536)
    sock.sendto(query.to_wire(), target)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return None
        try:
            reply = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        if reply.id == query.id:
            return reply
    return None


class Sent:
    """The fuzzed packets of this burst and the one before, by ID (mutants of one corpus
    query share it): a late reply is still matched."""

    def __init__(self) -> None:
        self.current: dict[bytes, list[bytes]] = {}
        self.previous: dict[bytes, list[bytes]] = {}

    def next_burst(self) -> None:
        self.previous, self.current = self.current, {}

    def add(self, packet: bytes) -> None:
        self.current.setdefault(packet[:2], []).append(packet)

    def candidates(self, qid: bytes) -> list[bytes]:
        return self.current.get(qid, []) + self.previous.get(qid, [])


def drain(sock: socket.socket, sent: Sent, counts: Counts) -> None:
    while True:
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        counts.replies += 1
        if not any(reply_is_sound(packet, data) for packet in sent.candidates(data[:2])):
            counts.malformed += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="per data plane")
    parser.add_argument("--planes", default="python,native")
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="geodns-fuzz."))
    (work / "zones").mkdir()
    shutil.copy(BENCH / "example.test.zone", work / "zones")
    rows = []
    try:
        for n, plane in enumerate(args.planes.split(",")):
            counts = run_plane(plane, args.packets, args.seed + n, work, 5400 + n)
            rows.append(counts)
            print(counts, file=sys.stderr)
    finally:
        shutil.rmtree(work)
    load = os.getloadavg()[0]
    print(
        "| data plane | fuzzed packets | valid queries | unanswered | wrong answers | "
        "replies to fuzz | malformed replies | crashes | answer-path failures | seconds |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in rows:
        print(
            f"| {c.plane} | {c.packets:,} | {c.valid:,} | {c.unanswered} | {c.wrong_answers} | "
            f"{c.replies:,} | {c.malformed} | {int(c.crashed)} | {c.failures} | {c.seconds:.0f} |"
        )
    print(f"\nload average at the end: {load:.1f}")
    bad = any(
        c.unanswered or c.wrong_answers or c.malformed or c.crashed or c.failures for c in rows
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
