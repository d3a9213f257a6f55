"""DNS over TCP for a fresh client while another holds connections open.

    .venv/bin/python bench/tcp_hold.py                  # 3 s, both data planes
    .venv/bin/python bench/tcp_hold.py --hold 600 --seconds 10

A geodns on loopback with TCP limits (--tcp-max-connections, per client, idle timeout as
given) is held by one client, 127.0.0.1: it opens --hold connections and trickles one
byte of a never-finished query on each every second (what a slowloris does). Meanwhile a
fresh client, 127.0.0.2, asks static.example.test A over a new TCP connection each time,
one after another, for --seconds: how many it asked, how many were answered, and the
median and slowest time to an answer. The holder's connections the server kept at the
end are counted too. TCP is answered by the Python path on both data planes; the plane is
named for completeness. Figures on a loaded machine are noisy: say so.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from defence_server import geodns  # noqa: E402

QUERY = bytes.fromhex("beef 0000 0001 0000 0000 0000") + b"\x06static\x07example\x04test\x00"
QUERY += b"\x00\x01\x00\x01"


def ask(host: str, port: int) -> float | None:
    """Seconds to a TCP answer from 127.0.0.2; None when none came within 2 s."""
    started = time.monotonic()
    try:
        with socket.create_connection(
            (host, port), timeout=2, source_address=("127.0.0.2", 0)
        ) as s:
            s.sendall(len(QUERY).to_bytes(2, "big") + QUERY)
            head = s.recv(2)
            if len(head) < 2:
                return None
            size, got = int.from_bytes(head, "big"), b""
            while len(got) < size:
                chunk = s.recv(size - len(got))
                if not chunk:
                    return None
                got += chunk
    except OSError:
        return None
    return time.monotonic() - started


def hold(host: str, port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        try:
            s = socket.create_connection((host, port), timeout=1, source_address=("127.0.0.1", 0))
            s.setblocking(False)
            held.append(s)
        except OSError:
            pass
    return held


def trickle(held: list[socket.socket]) -> int:
    """One byte more on each held connection; returns how many the server still keeps."""
    alive = 0
    for s in held:
        try:
            s.send(b"\x00")
            alive += 1
        except OSError:
            pass
    return alive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plane", choices=["native", "python"], action="append")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--hold", type=int, default=300, help="connections the holder opens")
    parser.add_argument("--max-connections", type=int, default=200)
    parser.add_argument("--per-client", type=int, default=32)
    parser.add_argument("--idle-timeout", type=float, default=2.0)
    args = parser.parse_args()
    print("| data plane | holder opened / kept | fresh client answered | median ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for plane in args.plane or ["native", "python"]:
        limits = ["--tcp-max-connections", str(args.max_connections)]
        limits += ["--tcp-max-connections-per-client", str(args.per_client)]
        limits += ["--tcp-idle-timeout-s", str(args.idle_timeout), "--data-plane", plane]
        with geodns(*limits) as (host, port, _):
            held = hold(host, port, args.hold)
            times: list[float | None] = []
            start = last_trickle = time.monotonic()
            while time.monotonic() - start < args.seconds:
                if time.monotonic() - last_trickle >= 1:
                    trickle(held)
                    last_trickle = time.monotonic()
                times.append(ask(host, port))
            kept = trickle(held)
            for s in held:
                s.close()
        answered = [t for t in times if t is not None]
        median = statistics.median(answered) * 1000 if answered else float("nan")
        slowest = max(answered) * 1000 if answered else float("nan")
        print(
            f"| {plane} | {len(held)} / {kept} | {len(answered)} of {len(times)} "
            f"| {median:.1f} | {slowest:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
