"""Memory of the native data plane under a long run: RSS after every million queries.

    .venv/bin/python bench/native_rss.py                 # 10 million queries
    .venv/bin/python bench/native_rss.py --millions 3    # a shorter run

geodns serves bench/example.test.zone and bench/pools.yaml (the run.sh scenario) on its
native data plane at 127.0.0.16:5300, and dnsperf asks, a million queries at a time, a mix
that keeps every part of the C table busy: the static name and the pool (hits; the pool is
drawn, and depends on the client: each million comes from another region's source, and
every third carries ECS for another /24), and names never asked before (a tenth of the
queries: each a miss that the Python path answers NXDOMAIN and the table keeps, so over
ten million the table fills past its bounds and evicts all along). The server's VmRSS is
read from /proc after each million. Flat means the table's bounds hold and nothing leaks
per query. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GEODNS = ROOT / ".venv" / "bin" / "geodns"
ADDRESS = "127.0.0.16"
PORT = 5300
CHUNK = 1_000_000
LINES = CHUNK  # one query file per million, asked once: its new names are new


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1))


def query_file(path: Path, rng: random.Random, chunk: int) -> None:
    """One chunk's queries: a tenth of them names never asked before."""
    lines = []
    for i in range(LINES):
        kind = rng.random()
        if kind < 0.1:
            lines.append(f"n{chunk}x{i}x{rng.randrange(1 << 30)}.example.test A")
        elif kind < 0.4:
            lines.append("static.example.test A")
        else:
            lines.append("www.example.test A")
    path.write_text("\n".join(lines) + "\n")


def dnsperf(path: Path, ecs: str | None, source: str, queries: int) -> float:
    command = ["dnsperf", "-s", ADDRESS, "-p", str(PORT), "-a", source, "-d", str(path)]
    command += ["-n", str(queries // LINES), "-c", "2", "-q", "64", "-t", "1"]
    if ecs is not None:
        command += ["-E", f"8:{ecs}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Queries per second:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--millions", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("dnsperf") is None:
        print("dnsperf is not installed (apt-get install dnsperf)", file=sys.stderr)
        return 1
    rng = random.Random(11)
    work = Path(tempfile.mkdtemp(prefix="geodns-rss."))
    zones = work / "zones"
    zones.mkdir()
    shutil.copy(BENCH / "example.test.zone", zones)
    database = f"sqlite+aiosqlite:///{work / 'geodns.db'}"
    subprocess.run(
        [GEODNS, "pools", "apply", BENCH / "pools.yaml", "--database", database,
         "--zones", zones, "--log-level", "warning"],
        check=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [GEODNS, "serve", "--dns", f"{ADDRESS}:{PORT}", "--api", "off", "--zones", zones,
         "--database", database, "--geoip-db", BENCH / "loopback-geo.mmdb",
         "--data-plane", "native", "--log-level", "warning"],
    )  # fmt: skip
    rows = []
    try:
        time.sleep(3)
        rows.append((0, rss_kib(server.pid), 0.0))
        for chunk in range(args.millions):
            path = work / "queries"
            query_file(path, rng, chunk)
            # each chunk: the mix from a source of each region, and the pool with ECS
            source = f"127.0.{chunk % 4 + 1}.1"
            ecs = f"000118{chunk % 2 + 2:02x}{rng.randrange(256):02x}{rng.randrange(256):02x}"
            qps = dnsperf(path, ecs if chunk % 3 == 2 else None, source, CHUNK)
            rows.append(((chunk + 1) * CHUNK, rss_kib(server.pid), qps))
            print(f"{rows[-1][0]:>10} queries  RSS {rows[-1][1] / 1024:7.1f} MiB  {qps:8.0f} qps")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work)
    print()
    print("| queries | RSS MiB | qps of that million |")
    print("|---:|---:|---:|")
    for queries, rss, qps in rows:
        print(f"| {queries:,} | {rss / 1024:.1f} | {qps:.0f} |")
    half = rows[len(rows) // 2]
    grown = (rows[-1][1] - half[1]) / 1024
    print(f"\nRSS change over the second half ({half[0]:,} to {rows[-1][0]:,}): {grown:+.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
