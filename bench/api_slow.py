"""API latency of a normal request while slow clients hold half-sent requests open.

Starts `geodns serve` from a source tree (--tree, default this one) under
`prlimit --nofile=SOFT:HARD`, measures GET /healthz with nobody else connected, then opens
--slow connections that each send half a request head and nothing more, and measures the
same request again while they are held (and whether DNS over TCP still answers). Run it
on a checkout from before and after a change for a before/after pair:

    .venv/bin/python bench/api_slow.py --nofile 1024:1024
    .venv/bin/python bench/api_slow.py --nofile 1024:1024 --tree /tmp/geodns-before

Prints one JSON object. Latencies are wall-clock and move with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' harness starts and stops the server

from harness import SERVE_ZONES, GeodnsProcess, start_geodns  # noqa: E402

HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: "


def start(tree: Path, nofile: str, workdir: Path) -> GeodnsProcess:
    """geodns serve from tree under prlimit, once it answers DNS and its API listens."""
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    args = ["--dns", "127.0.0.1:0", "--api", "127.0.0.1:0", "--zones", str(zones)]
    args += ["--database", f"sqlite+aiosqlite:///{workdir / 'geodns.db'}", "--no-geoip"]
    args += ["--data-plane", "python"]
    launcher = ["prlimit", f"--nofile={nofile}", sys.executable, "-m", "geodns"]
    return start_geodns(args, env={"PYTHONPATH": str(tree)}, cwd=tree, launcher=launcher)


def latencies(api: str, count: int) -> tuple[list[float], int]:
    """count sequential GET /healthz: their seconds, and how many failed (5 s timeout)."""
    seconds, failed = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(api + "/healthz", timeout=5) as response:
                response.read()
                ok = response.status == 200
        except OSError:
            ok = False
        if ok:
            seconds.append(time.perf_counter() - started)
        else:
            failed += 1
    return seconds, failed


def summary(seconds: list[float], failed: int) -> dict[str, float | int | None]:
    ordered = sorted(seconds)
    pick = (
        (lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2))
        if ordered
        else (lambda q: None)
    )
    return {
        "answered": len(seconds),
        "failed": failed,
        "median_ms": round(statistics.median(ordered) * 1000, 2) if ordered else None,
        "p95_ms": pick(0.95),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
    }


def half_sent(host: str, port: int, count: int) -> tuple[list[socket.socket], int]:
    sockets, refused = [], 0
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect((host, port))
            sock.sendall(HALF_SENT)
        except OSError:
            refused += 1
        sockets.append(sock)
    return sockets, refused


def dns_over_tcp(host: str, port: int) -> bool:
    try:
        query = dns.message.make_query("www.example.test.", "A")
        return bool(dns.query.tcp(query, host, port=port, timeout=5).answer)
    except (OSError, EOFError, dns.exception.Timeout):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="geodns source tree to run")
    parser.add_argument("--slow", type=int, default=2500, help="half-sent requests held")
    parser.add_argument("--requests", type=int, default=50, help="normal requests timed")
    parser.add_argument("--nofile", default="1024:1024", help="the server's RLIMIT_NOFILE")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this side holds them all
    with tempfile.TemporaryDirectory() as workdir:
        server = start(args.tree, args.nofile, Path(workdir))
        dns_host, dns_port, api = server.host, server.port, server.api
        try:
            quiet = summary(*latencies(api, args.requests))
            host, port = api.removeprefix("http://").rsplit(":", 1)
            sockets, refused = half_sent(host, int(port), args.slow)
            time.sleep(1.0)  # the server has accepted what it will
            held = summary(*latencies(api, args.requests))
            tcp_ok = dns_over_tcp(dns_host, dns_port)
            for sock in sockets:
                sock.close()
        finally:
            server.stop(timeout=20)
    print(
        json.dumps(
            {
                "tree": str(args.tree),
                "nofile": args.nofile,
                "slow_clients": args.slow,
                "slow_connects_failed": refused,
                "quiet": quiet,
                "while_held": held,
                "dns_over_tcp_answered": tcp_ok,
            }
        )
    )


if __name__ == "__main__":
    main()
