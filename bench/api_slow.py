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
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query

ROOT = Path(__file__).resolve().parent.parent
HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: "
LISTEN_DNS = re.compile(r"listening dns=([\d.]+):(\d+) ")
LISTEN_API = re.compile(r"listening api=(https?://\S+)")


def start(tree: Path, nofile: str, workdir: Path) -> tuple[subprocess.Popen[str], str, int, str]:
    """geodns serve from tree; (process, dns host, dns port, api url) once both listen."""
    zones = workdir / "zones"
    shutil.copytree(ROOT / "tests" / "data" / "serve", zones)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GEODNS_")}
    environ["PYTHONPATH"] = str(tree)
    command = [
        "prlimit",
        f"--nofile={nofile}",
        sys.executable,
        "-m",
        "geodns",
        "serve",
        "--dns",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
        "--zones",
        str(zones),
        "--database",
        f"sqlite+aiosqlite:///{workdir / 'geodns.db'}",
        "--no-geoip",
        "--data-plane",
        "python",
    ]
    process = subprocess.Popen(
        command, cwd=tree, env=environ, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    lines: list[str] = []
    assert process.stderr is not None
    stderr = process.stderr

    def drain() -> None:
        for line in stderr:
            lines.append(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 60
    dns_at = api = None
    while time.monotonic() < deadline and (dns_at is None or api is None):
        text = "".join(lines)
        dns_at = LISTEN_DNS.search(text)
        api = LISTEN_API.search(text)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if dns_at is None or api is None:
        process.kill()
        raise SystemExit("geodns did not start:\n" + "".join(lines))
    return process, dns_at.group(1), int(dns_at.group(2)), api.group(1)


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
        process, dns_host, dns_port, api = start(args.tree, args.nofile, Path(workdir))
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
            process.terminate()
            process.wait(20)
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
