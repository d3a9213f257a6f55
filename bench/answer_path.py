"""The Python answer path alone, without sockets: what one query costs in this process.

    .venv/bin/python bench/answer_path.py                  # ns per query, each case
    .venv/bin/python bench/answer_path.py --queries 20000 --case pool
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/answer_path.py --case pool --queries 10000 --count-only

The scenario is bench/run.sh's (bench/example.test.zone, bench/pools.yaml, the loopback
GeoIP database): "static" asks static.example.test A from 127.0.0.1, "pool" asks
www.example.test A from the six loopback client networks in turn, "pool-ecs" asks it with
ECS options of the five ECS-only networks. Timings move with whatever else the machine
runs; under callgrind, instructions per query (the difference between two query counts
divided by their difference) do not, which is how before/after is compared on a busy
machine. --tree points at another checkout (a `git worktree` of an older commit) to
measure that code with this script. --rrl RATE puts response rate limiting in front
(a rate no case reaches: what the check costs when nothing is limited).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def build(tree: Path, rrl: int = 0) -> tuple[object, object]:
    sys.path.insert(0, str(tree))
    from geodns.dns.zonefile import load_zone_dir
    from geodns.geo import open_geo
    from geodns.pools.model import HealthView
    from geodns.pools_file import load_pools_file
    from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot

    try:
        from geodns.answer.cache import CachingAnswerer as Answerer
        from geodns.answer.context import Transport
    except ImportError:  # a checkout from before the answer path moved to geodns/answer
        from geodns.dns.fastpath import FastAnswerer as Answerer  # type: ignore[no-redef]
        from geodns.dns.query import Transport  # type: ignore[no-redef]

    zones = load_zone_dir(BENCH).zones  # example.test.zone
    pools = load_pools_file(BENCH / "pools.yaml")
    geo = open_geo(str(BENCH / "loopback-geo.mmdb"))
    holder = SnapshotHolder(empty_snapshot())
    holder.publish(build_snapshot(1, zones, pools, HealthView(), geo))
    if not rrl:
        return Answerer(holder, random.Random(1)), Transport.UDP
    from geodns.answer.defences import Defences
    from geodns.answer.rrl import RateLimiter, RrlConfig

    limiter = RateLimiter(RrlConfig(responses_per_second=rrl))
    return Answerer(holder, random.Random(1), defences=Defences(limiter=limiter)), Transport.UDP


def queries(case: str) -> list[tuple[bytes, str]]:
    import dns.edns
    import dns.message

    if case == "static":
        wire = dns.message.make_query("static.example.test.", "A").to_wire()
        return [(wire, "127.0.0.1")]
    if case == "pool":
        wire = dns.message.make_query("www.example.test.", "A").to_wire()
        return [(wire, f"127.0.{n}.1") for n in range(1, 7)]
    out = []
    for n in range(1, 6):
        option = dns.edns.ECSOption(f"{n}.0.0.0", 24)
        message = dns.message.make_query("www.example.test.", "A", use_edns=0, options=[option])
        out.append((message.to_wire(), "127.0.0.1"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["static", "pool", "pool-ecs", "all"], default="all")
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--tree", type=Path, default=BENCH.parent)
    parser.add_argument("--count-only", action="store_true", help="no timing output")
    parser.add_argument(
        "--rrl",
        type=int,
        default=0,
        metavar="RATE",
        help="response rate limiting at this rate (high: every query checked, none limited)",
    )
    args = parser.parse_args()
    answerer, udp = build(args.tree, args.rrl)
    cases = ["static", "pool", "pool-ecs"] if args.case == "all" else [args.case]
    for case in cases:
        asked = queries(case)
        for data, source in asked:  # first sight: compile, outside the measurement
            assert answerer(data, source, udp) is not None  # type: ignore[operator]
        rounds = [asked[i % len(asked)] for i in range(args.queries)]
        started = time.perf_counter()
        for data, source in rounds:
            answerer(data, source, udp)  # type: ignore[operator]
        elapsed = time.perf_counter() - started
        if not args.count_only:
            print(f"{case:9} {elapsed / args.queries * 1e9:8.0f} ns/query  ({args.tree})")


if __name__ == "__main__":
    main()
