"""Instructions per query of the native data plane's UDP loop, counted by callgrind.

    .venv/bin/python bench/native_instructions.py               # every case
    .venv/bin/python bench/native_instructions.py --case pool   # one
    .venv/bin/python bench/native_instructions.py --rrl 1000000 # with RRL on

The scenario is bench/run.sh's, through a real loopback UDP socket: "static" asks
static.example.test A from 127.0.0.1, "pool" asks www.example.test A from the loopback
client networks (the pool depends on the client: a per-network entry, a weighted draw),
"pool-ecs" asks it with the ECS options of bench/run.sh. Each case runs twice under
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
CASES = ("static", "pool", "pool-ecs")
BATCH = 256


def inner(case: str, count: int, rrl: int) -> None:
    import socket

    sys.path.insert(0, str(BENCH))
    from answer_path import build, queries

    from geodns.answer.native import NativeUdp

    cache, _ = build(ROOT, rrl)
    native = NativeUdp(cache, seed=bytes(16))  # type: ignore[arg-type]
    asked = queries(case)
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
