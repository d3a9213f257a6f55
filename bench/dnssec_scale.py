"""What signing costs in memory at scale: the pool signature tables of 100,000 pools.

    .venv/bin/python bench/dnssec_scale.py                   # 1000,10000,100000 pools
    .venv/bin/python bench/dnssec_scale.py --pools 10000     # a subset
    .venv/bin/python bench/dnssec_scale.py --no-write        # print only, leave RESULTS.md

The pools are bench/scale.py's (8 members in 4 regions, at most 2 answers: 12 member sets
a draw can return, so every pool is signed ahead) in bench/example.test.zone. Each size
runs twice, each time in a process of its own so that its RSS is its own: once unsigned,
once with the zone signed (a CSK, ECDSAP256SHA256), both with every pool compiled (as
serving each of them once would), the signed one after the signing ahead the control
plane does between queries has run to the end. The difference of the two RSS figures is
what signing costs the process; the signature tables' own size (every object they hold,
by sys.getsizeof) says how much of it they are. The table goes to stdout and under
"## DNSSEC" in the kept notes of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the checkout's geodns, whatever the cwd
sys.path.insert(0, str(BENCH))

from scale import make_pool  # noqa: E402

from geodns.dns import names  # noqa: E402
from geodns.dns.zonefile import load_zone_dir  # noqa: E402
from geodns.dnssec.keys import Algorithm, generate_private_key, load_signing_key  # noqa: E402
from geodns.dnssec.publish import ZoneKeySet  # noqa: E402
from geodns.dnssec.signed import PoolSignatures  # noqa: E402
from geodns.dnssec.signer import ZoneKeys  # noqa: E402
from geodns.geo import open_geo  # noqa: E402
from geodns.pools.model import HealthView  # noqa: E402
from geodns.publisher import collector_paused  # noqa: E402
from geodns.snapshot import SnapshotBuilder  # noqa: E402

ORIGIN = names.from_text("example.test.")
GEO_DB = BENCH / "loopback-geo.mmdb"
NOTES_MARK = "<!-- run.sh keeps everything below this line -->"
HEADING = "## DNSSEC"
BEGIN = "<!-- bench/dnssec_scale.py writes from here -->"
END = "<!-- bench/dnssec_scale.py writes up to here -->"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def deep_size(table: PoolSignatures) -> int:
    """Bytes one pool's signature table holds: the object and everything only it holds
    (the signer, pool and owner name are shared with the rest of the snapshot)."""
    seen: set[int] = set()
    total = 0
    stack: list[object] = [table]
    shared = (table.signer, table.pool, table.owner)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or any(obj is s for s in shared):
            continue
        seen.add(id(obj))
        if isinstance(obj, int) and -5 <= obj <= 256:
            continue  # CPython's small ints are shared by everyone
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, tuple | list):
            stack += list(obj)
        elif hasattr(type(obj), "__slots__"):
            stack += [getattr(obj, s) for s in type(obj).__slots__ if hasattr(obj, s)]
    return total


def one_run(count: int, signed: bool) -> dict[str, Any]:
    """In this process: count pools, compiled, signed ahead if signed; the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="geodns-dnssec-scale."))
    (workdir / "example.test.zone").write_bytes((BENCH / "example.test.zone").read_bytes())
    builder = SnapshotBuilder()
    builder.set_zones(load_zone_dir(workdir).zones)
    pools = [make_pool(i) for i in range(count)]
    with collector_paused():
        builder.apply(pools)
    if signed:
        key = load_signing_key(
            Algorithm.ECDSAP256SHA256, generate_private_key(Algorithm.ECDSAP256SHA256)
        )
        keys = ZoneKeys((key,), (), (key,), (key,))
        builder.set_signing({ORIGIN: ZoneKeySet(ORIGIN, (key.public,), (key.public,), 3600, keys)})
    gc.collect()
    rss_before = rss_bytes()
    started, cpu = time.perf_counter(), time.process_time()
    with collector_paused():
        snapshot = builder.build(
            1, HealthView(frozenset()), open_geo(str(GEO_DB)), now_s=time.time()
        )
        for key in snapshot.pools.sources():
            snapshot.pools.get(key)  # compiled, as a first query would
        signing = builder.signing
        while signing.pending:
            signing.precompute(10_000)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    gc.collect()
    rss = rss_bytes()
    result: dict[str, Any] = {
        "pools": count,
        "signed": signed,
        "rss": rss,
        "rss_growth": rss - rss_before,
        "build_s": elapsed,
        "build_cpu_s": cpu,
    }
    if signed:
        tables = snapshot.signed[ORIGIN].pools
        sets = sum(len(t.by_mask) for t in tables.values())
        result |= {
            "tables": len(tables),
            "sets": sets,
            "table_bytes": sum(deep_size(t) for t in tables.values()),
            "signature_bytes": sets * next(iter(tables.values())).tail_size if tables else 0,
        }
    return result


def run_child(count: int, signed: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(count), "--signed" if signed else "--unsigned"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def table(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    lines = [
        "| pools | RSS unsigned MB | RSS signed MB | signing adds MB | per pool KB | "
        "signature tables MB | of which signatures MB | tables per pool KB | member sets "
        "| signing ahead s (CPU) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for plain, signed in rows:
        n = signed["pools"]
        added = signed["rss"] - plain["rss"]
        lines.append(
            f"| {n} | {plain['rss'] / 1e6:.0f} | {signed['rss'] / 1e6:.0f} | {added / 1e6:.0f} "
            f"| {added / n / 1e3:.2f} | {signed['table_bytes'] / 1e6:.0f} "
            f"| {signed['signature_bytes'] / 1e6:.0f} | {signed['table_bytes'] / n / 1e3:.2f} "
            f"| {signed['sets']} | {signed['build_cpu_s'] - plain['build_cpu_s']:.1f} |"
        )
    return lines


def write_results(lines: list[str]) -> None:
    path = BENCH / "RESULTS.md"
    text = path.read_text()
    block = "\n".join([BEGIN, *lines, END])
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    elif HEADING in text.split(NOTES_MARK, 1)[-1]:
        head, rest = text.rsplit(HEADING, 1)
        text = head + HEADING + "\n\n" + block + "\n" + rest
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pools", default="1000,10000,100000")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--signed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--unsigned", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.child, args.signed)))
        return
    rows = []
    for count in (int(n) for n in args.pools.split(",")):
        rows.append((run_child(count, False), run_child(count, True)))
        print("\n".join(table(rows[-1:])[2:]), flush=True)
    lines = [
        f"`bench/dnssec_scale.py --pools {args.pools}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} "
        "(memory figures do not depend on the load; the CPU seconds do, a little).",
        "",
        *table(rows),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines)


if __name__ == "__main__":
    main()
