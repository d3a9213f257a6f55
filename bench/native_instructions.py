"""Instructions per query of the native data plane's UDP loop, counted by callgrind.

    .venv/bin/python bench/native_instructions.py               # every case
    .venv/bin/python bench/native_instructions.py --case pool   # one
    .venv/bin/python bench/native_instructions.py --rrl 1000000 # with RRL on

The scenario is bench/run.sh's, through a real loopback UDP socket: "static" asks
static.example.test A from 127.0.0.1, "pool" asks www.example.test A from the loopback
client networks (the pool depends on the client: a per-network entry, a weighted draw),
"pool-ecs" asks it with the ECS options of bench/run.sh; "static-dnssec" and
"pool-dnssec" ask as "static" and "pool" with DO set (EDNS, dnsperf -D in bench/run.sh)
of the zone signed with a fresh CSK (ECDSAP256SHA256), every pool set signed ahead as the
control plane does between queries. Each case runs twice under
valgrind --tool=callgrind --toggle-collect=Engine_serve (only the C loop's own user-space
instructions count: recvmmsg and sendmmsg up to the system call, lookup, draw, render;
the kernel's work is not seen), with two query counts; instructions per query is the
difference of the totals over the difference of the counts, so start-up and the first
sight of each query (answered by Python inside Engine_serve) cancel out. Callgrind counts
do not move with the machine's load, which is what makes before/after comparable here.
With --rrl RATE every reply also goes through response rate limiting at that rate (a
rate no query here reaches measures what checking costs, not what limiting saves).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CASES = ("static", "pool", "pool-ecs", "static-dnssec", "pool-dnssec")
BATCH = 256


def inner(case: str, count: int, rrl: int) -> None:
    import socket

    sys.path.insert(0, str(BENCH))
    from answer_path import build, queries

    from geodns.answer.native import NativeUdp

    signed = case.endswith("-dnssec")
    cache = signed_cache() if signed else build(ROOT, rrl)[0]
    native = NativeUdp(cache, seed=bytes(16))  # type: ignore[arg-type]
    asked = queries(case.removesuffix("-dnssec"))
    if signed:
        asked = [(with_do(wire), source) for wire, source in asked]
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    clients = {}
    for _, source in asked:  # a socket per client address (127.0.R.1 are all loopback)
        if source not in clients:
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            client.bind((source, 0))
            client.connect(server.getsockname())
            clients[source] = client
    for wire, source in asked:  # first sight: the Python path, then the table has it
        clients[source].send(wire)
    native(server)
    for client in clients.values():
        client.setblocking(False)
    sent = 0
    while sent < count:
        for i in range(BATCH):
            wire, source = asked[(sent + i) % len(asked)]
            clients[source].send(wire)
        sent += BATCH
        native(server)
        for client in clients.values():
            try:
                while client.recv(4096):
                    pass
            except BlockingIOError:
                pass
    counters = native.counters()
    print(f"hits={counters['hits']} misses={counters['misses']}", file=sys.stderr)


def with_do(wire: bytes) -> bytes:
    import dns.flags
    import dns.message

    message = dns.message.from_wire(wire)
    message.use_edns(0, dns.flags.DO, 1232)
    return message.to_wire()


def signed_cache() -> object:
    """bench/run.sh's scenario with example.test signed, every pool set signed ahead."""
    import random
    import time

    from geodns.answer.cache import CachingAnswerer
    from geodns.dns import names
    from geodns.dns.zonefile import load_zone_dir
    from geodns.dnssec.keys import Algorithm, generate_private_key, load_signing_key
    from geodns.dnssec.publish import ZoneKeySet
    from geodns.dnssec.signer import ZoneKeys
    from geodns.geo import open_geo
    from geodns.pools.model import HealthView
    from geodns.pools_file import load_pools_file
    from geodns.snapshot import SnapshotBuilder, SnapshotHolder, empty_snapshot

    origin = names.from_text("example.test.")
    algorithm = Algorithm.ECDSAP256SHA256
    key = load_signing_key(algorithm, generate_private_key(algorithm))
    keys = ZoneKeys((key,), (), (key,), (key,))
    builder = SnapshotBuilder()
    builder.set_zones(load_zone_dir(BENCH).zones)
    builder.apply(load_pools_file(BENCH / "pools.yaml"))
    builder.set_signing({origin: ZoneKeySet(origin, (key.public,), (key.public,), 3600, keys)})
    geo = open_geo(str(BENCH / "loopback-geo.mmdb"))
    snapshot = builder.build(1, HealthView(), geo, now_s=time.time())
    while builder.signing.pending:
        builder.signing.precompute(1000)
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(snapshot)
    return CachingAnswerer(holder, random.Random(1))


def instructions(case: str, count: int, rrl: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--toggle-collect=Engine_serve",
             f"--callgrind-out-file={out}", sys.executable, __file__, "--inner", case,
             "--queries", str(count), "--rrl", str(rrl)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        text = out.read_text()
    match = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(
        r"^totals:\s+(\d+)", text, re.M
    )
    assert match is not None, "no summary line in the callgrind output"
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--queries", type=int, default=20_480)
    parser.add_argument("--rrl", type=int, default=0, help="rrl_responses_per_second (0: off)")
    parser.add_argument("--inner", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.inner, args.queries, args.rrl)
        return 0
    small, large = args.queries // 4, args.queries
    print("| case | instructions per query (C loop, user space) |")
    print("|---|---:|")
    for case in args.case or CASES:
        counts = [instructions(case, n, args.rrl) for n in (large, small)]
        per_query = (counts[0] - counts[1]) / (large - small)
        print(f"| {case} | {per_query:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
