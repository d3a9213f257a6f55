"""RRL held under a flood: answers per second per key, and another client untouched.

    .venv/bin/python bench/rrl_flood.py                     # both data planes, 3 s each
    .venv/bin/python bench/rrl_flood.py --plane native --seconds 10

For each data plane a geodns on loopback with response rate limiting (rate, slip and
window as given; BIND's defaults otherwise) is flooded from 127.0.0.1 with one query
(the pool www.example.test A, or --name) as fast as one Python sender manages, while a
second client, 127.0.1.1 (another /24 block), asks the same name at half the rate. Every
reply is counted: full answers, truncated (slipped) ones, and the rest as dropped. What
RRL promises is that the flooded key gets at most `rate` full answers a second (its first
second's credit; after that its debt, capped at window x rate, keeps it at none while the
flood lasts), every slip-th limited reply truncated, and the other client all of its
answers. Figures on a loaded machine are noisy: say so.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from defence_server import geodns  # noqa: E402

TC = 0x02  # the TC bit in the third byte of the header


def query(name: str, qid: int) -> bytes:
    wire = qid.to_bytes(2, "big") + b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        wire += bytes((len(label),)) + label.encode()
    return wire + b"\x00\x00\x01\x00\x01"


def tally(sock: socket.socket, seen: Counter[str]) -> None:
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        seen["tc" if data[2] & TC else "answer"] += 1


def flood(host: str, port: int, name: str, seconds: float, other_qps: int) -> dict[str, float]:
    target = (host, port)
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.1", 0))
    flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    flooder.setblocking(False)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.1.1", 0))
    other.setblocking(False)
    packet = query(name, 1)
    flooded: Counter[str] = Counter()
    served: Counter[str] = Counter()
    sent = other_sent = 0
    start = time.monotonic()
    next_other = start
    while (now := time.monotonic()) - start < seconds:
        for _ in range(64):
            try:
                flooder.sendto(packet, target)
                sent += 1
            except BlockingIOError:
                break
        if now >= next_other:
            other.sendto(query(name, other_sent & 0xFFFF), target)
            other_sent += 1
            next_other += 1 / other_qps
        tally(flooder, flooded)
        tally(other, served)
    time.sleep(0.5)  # the last replies
    tally(flooder, flooded)
    tally(other, served)
    elapsed = time.monotonic() - start - 0.5
    return {
        "flood_qps": sent / elapsed,
        "answers_per_s": flooded["answer"] / elapsed,
        "tc_per_s": flooded["tc"] / elapsed,
        "dropped_share": 1 - (flooded["answer"] + flooded["tc"]) / max(sent, 1),
        "other_sent": other_sent,
        "other_answered": served["answer"],
        "other_tc": served["tc"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plane", choices=["native", "python"], action="append")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=int, default=10, help="rrl_responses_per_second")
    parser.add_argument("--slip", type=int, default=2)
    parser.add_argument("--window", type=int, default=15)
    parser.add_argument("--name", default="www.example.test")
    parser.add_argument("--other-qps", type=int, help="the other client's rate (rate / 2)")
    args = parser.parse_args()
    print("| data plane | flood sent/s | full answers/s (key) | TC/s | dropped | other client |")
    print("|---|---:|---:|---:|---:|---|")
    for plane in args.plane or ["native", "python"]:
        rrl = ["--rrl-responses-per-second", str(args.rate), "--rrl-slip", str(args.slip)]
        rrl += ["--rrl-window-s", str(args.window), "--data-plane", plane]
        with geodns(*rrl) as (host, port, _):
            other_qps = args.other_qps or max(args.rate // 2, 1)
            got = flood(host, port, args.name, args.seconds, other_qps)
        print(
            f"| {plane} | {got['flood_qps']:.0f} | {got['answers_per_s']:.1f} "
            f"| {got['tc_per_s']:.1f} | {got['dropped_share']:.1%} "
            f"| {got['other_answered']} of {got['other_sent']} answered, {got['other_tc']} TC |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
