"""Mutated packets through the native engine: the fuzz driver the sanitizer test runs.

    python tests/native_fuzz.py MODULE.so PACKETS SEED

MODULE.so is a build of geodns/answer/_native.c (the test builds it with AddressSanitizer
and UBSan and preloads their runtime); it is loaded as geodns.answer._native before
anything imports that name. Then PACKETS packets go through it: valid queries over the
test zones and pools (so the C table hits and draws), mutated ones (flipped, overwritten,
truncated, extended, counts changed), queries with COOKIE options (a client cookie, a
server cookie back, malformed lengths) and NSID, whose replies get a fresh cookie as they
are sent and are never kept in the C table, short ones, from IPv4, IPv6 and IPv4-mapped
sources, and one in twenty DO queries of a signed zone's pools (signed draws: C appends
the drawn set's RRSIG, or misses to Python for a set not signed yet); a tenth of them
through a real UDP socket and the recvmmsg/sendmmsg loop, the
rest through the same lookup and miss path without one. The table is small, so it evicts
and resets all along, and a new snapshot is published now and then, with new access lists
(some sources denied, refused in C or dropped, so mutated packets reach the refusal's
parser too) and new rate limiting settings (a table of 64 buckets: full and evicting all
along, limiting on a clock of fifty packets a second). Last, entry descriptions,
access lists and rate limiting settings of every wrong shape are offered to the engine,
which must refuse each.
Prints one JSON line of counts; a sanitizer finding ends the process with its report.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import random
import socket
import sys
import time
from pathlib import Path

import dns.message

sys.path.insert(0, str(Path(__file__).resolve().parent))
SOURCES = ["127.0.0.1", "2.2.3.4", "175.16.199.7", "10.1.2.3", "::1", "2001:218::5"]
SOURCES += ["::ffff:2.2.3.9", "fe80::1"]
SOCKET_BATCH = 200


def load_engine_module(path: str) -> None:
    loader = importlib.machinery.ExtensionFileLoader("geodns.answer._native", path)
    spec = importlib.util.spec_from_file_location("geodns.answer._native", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules["geodns.answer._native"] = module


def mutate(rng: random.Random, packet: bytes) -> bytes:
    out = bytearray(packet)
    for _ in range(rng.randint(1, 6)):
        what = rng.random()
        if what < 0.3 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif what < 0.5 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif what < 0.65:
            del out[rng.randrange(len(out) + 1) :]
        elif what < 0.8:
            out += rng.randbytes(rng.randint(1, 64))
        elif what < 0.9 and len(out) >= 12:
            out[rng.randrange(4, 12)] = rng.randrange(256)
        else:
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def packets(rng: random.Random, corpus: list[bytes]) -> bytes:
    kind = rng.random()
    if kind < 0.45:  # some sources are denied or limited now and then: more as is
        return rng.choice(corpus)  # as is: hits, draws, per-client lookups
    if kind < 0.97:
        return mutate(rng, rng.choice(corpus))
    return rng.randbytes(rng.randrange(0, 40))


def cookie_corpus(rng: random.Random, count: int) -> list[bytes]:
    """Queries with COOKIE options of every length (8, 16, 24, 40 and malformed ones),
    NSID, ECS beside them, and the server cookies a node made for them."""
    import dns.edns
    import dns.message
    from answer_queries import NAMES

    out = []
    for _ in range(count):
        length = rng.choice([8, 8, 16, 24, 40, 0, 7, 9, 15, 41])
        options: list[dns.edns.Option] = [
            dns.edns.GenericOption(dns.edns.OptionType.COOKIE, rng.randbytes(length))
        ]
        if rng.random() < 0.3:
            options.append(dns.edns.NSIDOption(b""))
        if rng.random() < 0.3:
            options.append(dns.edns.ECSOption("2.2.3.0", 24))
        rng.shuffle(options)
        query = dns.message.make_query(rng.choice(NAMES), "A", use_edns=0, options=options)
        query.id = rng.randrange(65536)
        out.append(query.to_wire())
    return out


def bad_specs(rng: random.Random, engine_module: object) -> int:
    """Entry descriptions of every wrong shape: each must be refused (an exception), none
    may crash. Returns how many were refused."""
    engine = engine_module.Engine(bytes(16), (1000, 2000))  # type: ignore[attr-defined]
    query = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\x03www\x07example\x04test\x00"
    query += b"\x00\x01\x00\x01"
    values: list[object] = [
        None, -1, 0, 1, 2, 3, 128, 129, 2**31, 2**64, -(2**63), 1.5, "x", b"", b"r" * 16,
        b"h" * 10, b"t" * 5000, (), (b"r" * 16,), (b"a", b"bb"), (1,), (-1,), (2**33,),
        tuple([b"r" * 16] * 1025), tuple(range(1025)),
    ]  # fmt: skip
    signed_parts: list[object] = [
        None, (), ((1, 2), b"s" * 8, 4), ((2, 1), b"s" * 8, 4), ((0,), b"s" * 4, 4),
        ((1 << 40,), b"s" * 4, 4), ((1,), b"s" * 3, 4), ((1,), b"s" * 5000, 5000),
        ((1,), b"", 0), ((-1,), b"s", 1), (("x",), b"s", 1), ((1,), "s", 1), ((1,), b"s", -1),
        (tuple(range(1, 4098)), b"", 0),
    ]  # fmt: skip
    refused = 0
    for _ in range(20000):
        size = rng.choice([0, 1, 2, 3, 4, 10, 11, 12, 13, 15, 16])
        spec = tuple(rng.choice(values) for _ in range(size))
        if size and rng.random() < 0.5:
            spec = (rng.choice([0, 1]), *spec[1:])
        if size == 16 and rng.random() < 0.7:
            # a well-formed draw (RRL fields last) with a bad signed part, or a good one
            spec = (1, -1, 0, b"h" * 12, b"t", (b"r" * 16, b"q" * 16), (1, 2), 1, 1, 0, 0, (0, 1))
            spec = (*spec, rng.choice(signed_parts), 0, 0, None)
        reply = rng.choice([b"\x00" * 12, b"", b"\x00" * 3, b"\x00" * 5000, None, "no"])
        engine.reset()  # else what was kept answers, and the handler is not asked again
        try:
            engine.answer(query, rng.choice(SOURCES), lambda d, h, r=reply, s=spec: (r, s))
        except (TypeError, ValueError, OverflowError):
            refused += 1
    return refused


# access lists the run goes through in turn: who is denied (of SOURCES), allowed, and how
ACCESS = [
    (["2.2.3.0/24"], [], "refuse"),
    (["fe80::/10", "10.0.0.0/8"], [], "drop"),
    (["::1", "175.16.199.0/24"], ["0.0.0.0/0", "::/0"], "refuse"),
    (["10.1.2.3", "::ffff:2.2.3.9"], [], "refuse"),
]


def rrl_settings(generation: int) -> dict[str, object] | None:
    """The rate limiting of a generation of the run: off now and then, else small tables."""
    if generation % 2 == 0:
        return None
    return {
        "responses_per_second": 20 + generation % 4,
        "all_per_second": 40 if generation % 2 else 0,
        "slip": generation % 3,
        "window_s": 1 + generation % 5,
        "exempt": ("10.0.0.0/8",) if generation % 4 == 1 else (),
        "log_only": generation % 5 == 4,
        "max_entries": 64,
        "ipv6_prefix": 48 + generation % 3 * 8,
    }


def bad_rrl(rng: random.Random, engine_module: object) -> int:
    """Rate limiting settings of every wrong shape: each must be refused, none may crash."""
    engine = engine_module.Engine(bytes(16), (1000, 2000))  # type: ignore[attr-defined]
    values: list[object] = [None, -1, 0, 1, 2, 33, 129, 2**31, 2**64, "x", b"", b"\x04" * 33]
    rates: list[object] = [(1,) * 6, (0,) * 6, (1, 1), (-1,) * 6, ("x",) * 6, (2**40,) * 6]
    refused = 0
    for _ in range(3000):
        args = [rng.choice(rates + values)] + [rng.choice(values) for _ in range(9)]
        try:
            engine.set_rrl(*args)
        except (TypeError, ValueError, OverflowError):
            refused += 1
    return refused


def limited_now(native: object) -> int:
    limiter = native.limiter  # type: ignore[attr-defined]
    if limiter is None:
        return 0
    return sum(limiter.dropped.values()) + sum(limiter.slipped.values())  # type: ignore[no-any-return]


def bad_access(rng: random.Random, engine_module: object) -> int:
    """Packed access lists of every wrong shape: each must be refused, none may crash."""
    engine = engine_module.Engine(bytes(16), (1000, 2000))  # type: ignore[attr-defined]
    good = bytes([4]) + bytes(16) + bytes(12) + b"\xff" * 4
    values: list[object] = [
        b"", good, good * 2, good[:-1], b"\x05" + good[1:], bytes([4]) + b"\xff" * 32,
        bytes([6]) + b"\x01" * 16 + bytes(16), None, 1, "x", rng.randbytes(33 * 3),
    ]  # fmt: skip
    refused = 0
    for _ in range(2000):
        try:
            engine.set_access(rng.choice(values), rng.choice(values), rng.random() < 0.5)
        except (TypeError, ValueError):
            refused += 1
    return refused


def main() -> int:
    module_path, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    load_engine_module(module_path)
    logging.getLogger("geodns").setLevel(logging.ERROR)  # not the rrl start/stop lines
    import dataclasses

    from answer_queries import generated_queries, make_holder
    from signed_world import ORIGIN, POOLS, World, key_set, new_key

    from geodns.answer import _native
    from geodns.answer.acl import AccessList, DenyAction
    from geodns.answer.cache import CachingAnswerer
    from geodns.answer.context import Transport
    from geodns.answer.defences import Defences
    from geodns.answer.native import NativeUdp
    from geodns.answer.options import ReplyOptions
    from geodns.answer.rrl import RrlConfig
    from geodns.dns.cookie import CookieSecrets
    from geodns.pools.model import Policy
    from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot

    rng = random.Random(seed)
    holder = make_holder()
    secrets = CookieSecrets(rng.randbytes(16), rng.randbytes(16), 2.0**32)
    holder.current = dataclasses.replace(holder.current, cookie_secrets=secrets)
    cache = CachingAnswerer(
        holder, random.Random(seed), defences=Defences(options=ReplyOptions(nsid=b"fuzz"))
    )
    clock = [0.0]
    cache.defences.clock = lambda: clock[0] / 50  # fifty packets a second: some keys limited
    native = NativeUdp(
        cache,
        max_entries=8192,  # more than 1 MiB holds: the table resets as well as evicts
        max_bytes=1 << 20,
        seed=rng.randbytes(16),
    )
    generated = generated_queries(3000, seed)
    corpus = [data for data, _, transport in generated if transport is Transport.UDP]
    corpus += cookie_corpus(rng, len(corpus) // 5)
    # a signed zone's pools, asked with DO: signed draws in the C table
    signed_holder = SnapshotHolder(empty_snapshot())
    signed_holder.publish(World({ORIGIN: key_set([new_key()])}).build(time.time()))
    signed_native = NativeUdp(
        CachingAnswerer(signed_holder, random.Random(seed)),
        max_entries=1024,
        max_bytes=1 << 20,
        seed=rng.randbytes(16),
    )
    signed_corpus = [
        dns.message.make_query(pool.name, qtype, use_edns=0, want_dnssec=True).to_wire()
        for pool in POOLS
        if pool.policy is not Policy.NEAREST and len(pool.members) <= 8  # C's signed draws
        for qtype in ("A", "AAAA")
    ]
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    client.setblocking(False)
    address = server.getsockname()
    replies = sent = generation = limited_so_far = 0
    done = 0
    while done < count:
        clock[0] = done
        if done % 100_000 == 0:
            generation += 1
            base = holder.current
            fresh = build_snapshot(
                generation + 1, base.zones, base.source_pools, base.health, base.geo
            )
            holder.publish(dataclasses.replace(fresh, cookie_secrets=secrets))
            deny, allow, action = ACCESS[generation % len(ACCESS)]
            cache.defences.access = AccessList(allow, deny) or None
            cache.defences.deny_action = DenyAction(action)
            rrl = rrl_settings(generation)
            limited_so_far += limited_now(native)  # a fresh table starts its counts at 0
            native.use_rrl(None if rrl is None else RrlConfig(**rrl))  # type: ignore[arg-type]
        if done % 2000 == 0:  # a tenth through the socket and the recvmmsg/sendmmsg loop
            for _ in range(SOCKET_BATCH):
                client.sendto(packets(rng, corpus), address)
            sent += SOCKET_BATCH
            while native.engine.serve(server.fileno(), native._miss, 512):
                pass
            while True:
                try:
                    client.recv(65535)
                    replies += 1
                except BlockingIOError:
                    break
            done += SOCKET_BATCH
            continue
        if done % 20 == 0:  # one in twenty of the rest: the signed zone's
            if signed_native.answer(packets(rng, signed_corpus), rng.choice(SOURCES)) is not None:
                replies += 1
            done += 1
            continue
        if native.answer(packets(rng, corpus), rng.choice(SOURCES)) is not None:
            replies += 1
        done += 1
    counters = native.counters()
    limited = limited_so_far + limited_now(native)
    signed_counters = signed_native.counters()
    refused = bad_specs(rng, _native)
    access_refused = bad_access(rng, _native)
    rrl_refused = bad_rrl(rng, _native)
    print(
        json.dumps(
            {
                "packets": done,
                "through_socket": sent,
                "replies": replies,
                "hits": counters["hits"],
                "signed_hits": signed_counters["hits"],
                "signed_misses": signed_counters["misses"],
                "misses": counters["misses"],
                "evictions": counters["evictions"],
                "resets": counters["resets"],
                "bad_specs_refused": refused,
                "denied": counters["denied_refused"] + counters["denied_dropped"],
                "bad_access_refused": access_refused,
                "rrl_limited": limited,
                "bad_rrl_refused": rrl_refused,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
