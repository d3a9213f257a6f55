"""DNS through a PostgreSQL outage, and how soon a second node follows once it is over.

    GEODNS_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/db_outage.py [--outage-s 60] [--qps 2000] [--recoveries 5]

Two real geodns processes (A with the API, B without) share a fresh database on that
server through a TCP proxy of this script's own (tests/dbproxy.py), so the shared server
is never stopped. dnsperf sends a steady load to A (pool, static name and NXDOMAIN
queries) for the whole run while the proxy cuts the database off for --outage-s: every
query dnsperf counts lost, or answered with anything but the usual rcodes, is an answer
the outage cost. Then, --recoveries times: a 10 s outage, the database back, a drain
through A's API retried until acknowledged, and B polled over DNS until it answers the
change: the seconds from the database's return to B's answer. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
from databases import run_admin  # noqa: E402
from dbproxy import DatabaseProxy  # noqa: E402
from harness import DATA, SERVE_ZONES, GeodnsProcess, create_token, start_geodns  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from geodns.store.migrate import upgrade  # noqa: E402

POOLS_FILE = DATA / "pools" / "example.test.yaml"
POOL = "failover.example.test."  # 192.0.2.171; drained, 192.0.2.181
QUERIES = ("failover.example.test. A", "www.other.test. A", "absent.example.test. A")


def node(address: str, zones: Path, url: str, api: bool) -> GeodnsProcess:
    return start_geodns(
        [
            "--dns",
            f"{address}:0",
            "--api",
            f"{address}:0" if api else "off",
            "--zones",
            str(zones),
            "--database",
            url,
            "--no-geoip",
        ]
    )


def patch_weight(a: GeodnsProcess, token: str, address: str, weight: int) -> int:
    request = urllib.request.Request(
        f"{a.api}/api/v1/pools/{POOL}/members/{address}",
        data=json.dumps({"weight": weight}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def answer_of(server: GeodnsProcess) -> set[str]:
    try:
        reply = dns.query.udp(
            dns.message.make_query(POOL, "A"), server.host, port=server.port, timeout=0.5
        )
    except Exception:  # a lost reply: ask again
        return set()
    return {r.to_text() for rrset in reply.answer for r in rrset}


def dnsperf_under_outage(
    a: GeodnsProcess, proxy: DatabaseProxy, workdir: Path, outage_s: float, qps: int
) -> dict[str, str]:
    queries = workdir / "queries.txt"
    queries.write_text("\n".join(QUERIES * 100) + "\n")
    before_s, after_s = 10.0, 10.0
    run_s = before_s + outage_s + after_s
    load = subprocess.Popen(
        [
            "dnsperf",
            "-s",
            a.host,
            "-p",
            str(a.port),
            "-d",
            str(queries),
            "-l",
            str(run_s),
            "-Q",
            str(qps),
            "-t",
            "2",
            "-c",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(before_s)
    proxy.down()
    down_at = time.monotonic()
    time.sleep(outage_s)
    proxy.up()
    measured_outage_s = time.monotonic() - down_at
    output, _ = load.communicate(timeout=run_s + 60)
    found = {
        key: (m.group(1) if (m := re.search(pattern, output)) else "?")
        for key, pattern in (
            ("sent", r"Queries sent:\s+(\d+)"),
            ("completed", r"Queries completed:\s+(\d+)"),
            ("lost", r"Queries lost:\s+(\d+)"),
            ("codes", r"Response codes:\s+(.+)"),
            ("qps", r"Queries per second:\s+([\d.]+)"),
        )
    }
    found["outage_s"] = f"{measured_outage_s:.1f}"
    found["run_s"] = f"{run_s:.0f}"
    return found


def one_recovery(
    a: GeodnsProcess, b: GeodnsProcess, proxy: DatabaseProxy, token: str, weight: int
) -> tuple[float, float]:
    """(seconds to A's acknowledged write, seconds to B answering it) after the return."""
    proxy.down()
    time.sleep(10)
    proxy.up()
    returned = time.monotonic()
    while patch_weight(a, token, "192.0.2.171", weight) != 200:
        time.sleep(0.01)
    written = time.monotonic() - returned
    expected = {"192.0.2.181"} if weight == 0 else {"192.0.2.171"}
    while answer_of(b) != expected:
        time.sleep(0.005)
    return written, time.monotonic() - returned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage-s", type=float, default=60.0)
    parser.add_argument("--qps", type=int, default=2000)
    parser.add_argument("--recoveries", type=int, default=5)
    args = parser.parse_args()
    base = os.environ.get("GEODNS_TEST_POSTGRES_URL")
    if not base:
        sys.exit("set GEODNS_TEST_POSTGRES_URL=postgresql+asyncpg://USER@HOST/DB")
    name = f"geodns_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(run_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="geodns-outage."))
    proxy = DatabaseProxy.for_url(url)
    nodes: list[GeodnsProcess] = []
    try:
        asyncio.run(upgrade(url))
        zones = workdir / "zones"
        shutil.copytree(SERVE_ZONES, zones)
        applied = subprocess.run(
            [
                sys.executable,
                "-m",
                "geodns",
                "pools",
                "apply",
                str(POOLS_FILE),
                "--database",
                url,
                "--zones",
                str(zones),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert applied.returncode == 0, applied.stderr
        token = create_token(url, "editor", "bench")
        served = proxy.url(url)
        nodes.append(node("127.0.0.41", zones, served, api=True))
        nodes.append(node("127.0.0.42", zones, served, api=False))
        a, b = nodes
        load = dnsperf_under_outage(a, proxy, workdir, args.outage_s, args.qps)
        recoveries = [
            one_recovery(a, b, proxy, token, 0 if i % 2 == 0 else 100)
            for i in range(args.recoveries)
        ]
    finally:
        for server in nodes:
            server.stop()
        proxy.close()
        asyncio.run(run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)
    reached = [r for _, r in recoveries]
    written = [w for w, _ in recoveries]
    print(f"load average before the end: {os.getloadavg()[0]:.1f} (2 cores)")
    print("| figure | value |")
    print("|---|---|")
    print(
        f"| DNS queries lost during a {load['outage_s']} s PostgreSQL outage (dnsperf, "
        f"{args.qps} q/s to node A for {load['run_s']} s, the outage in the middle) | "
        f"{load['lost']} of {load['sent']} sent; {load['completed']} completed; "
        f"rcodes {load['codes'].strip()} |"
    )
    print(
        f"| database back -> a drain through node A acknowledged ({len(written)} outages of "
        f"10 s) | median {statistics.median(written):.2f} s, max {max(written):.2f} s |"
    )
    print(
        f"| database back -> node B answers the drain over DNS | median "
        f"{statistics.median(reached):.2f} s, max {max(reached):.2f} s "
        f"(each: {', '.join(f'{r:.2f}' for r in reached)}) |"
    )
    behind = [r - w for w, r in recoveries]
    print(
        f"| A's acknowledgement -> node B answers it | median {statistics.median(behind):.3f} s,"
        f" max {max(behind):.3f} s |"
    )


if __name__ == "__main__":
    main()
