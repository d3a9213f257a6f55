"""How geodns scales with the number of pools: store load, snapshot build, memory, the
per-query cost, and how long one pool's change takes to reach the answers.

    .venv/bin/python bench/scale.py                        # 1000,10000,100000 pools
    .venv/bin/python bench/scale.py --pools 1000,10000     # a subset
    .venv/bin/python bench/scale.py --no-write             # print only, leave RESULTS.md
    GEODNS_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/scale.py                    # PostgreSQL as well as SQLite

Every pool has 8 members in 4 regions (two each, weights 100 and 50), five continent
rules and at most 2 answers, all in the zone example.test (bench/example.test.zone).
Each size runs in a process of its own (so RSS figures are that size's alone), against a
fresh SQLite database (and a fresh PostgreSQL database when GEODNS_TEST_POSTGRES_URL is
set), filled by bulk INSERTs through SQLAlchemy Core. 10 pools always run too: the
per-query baseline. The table goes to stdout and under "## Scale" in the kept notes of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the checkout's geodns, whatever the cwd
sys.path.insert(0, str(BENCH.parent / "tests"))  # bulk_pools, shared with the scale test

from bulk_pools import bulk_insert  # noqa: E402

from geodns.answer.cache import CachingAnswerer  # noqa: E402
from geodns.answer.context import Transport  # noqa: E402
from geodns.answer.packet import PacketAnswerer  # noqa: E402
from geodns.api.keys import PUBLISHER, STORE  # noqa: E402
from geodns.app import make_app  # noqa: E402
from geodns.auth import issue_token  # noqa: E402
from geodns.dns.zonefile import load_zone_dir  # noqa: E402
from geodns.geo import open_geo  # noqa: E402
from geodns.pools.model import MatchKind, Member, Pool, Rule, to_document  # noqa: E402
from geodns.publisher import SnapshotPublisher, collector_paused  # noqa: E402
from geodns.settings import Settings  # noqa: E402
from geodns.snapshot import SnapshotHolder, build_snapshot, empty_snapshot  # noqa: E402
from geodns.store.migrate import upgrade  # noqa: E402
from geodns.store.repository import Store  # noqa: E402

ZONE = "example.test."
GEO_DB = BENCH / "loopback-geo.mmdb"
SOURCES = ["127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.4.1"]  # US, DE, JP, BR (README.md)
REGIONS = ("us", "eu", "ap", "sa")
RULES = (
    ("NA", ("us", "eu")),
    ("EU", ("eu", "us")),
    ("AS", ("ap", "us")),
    ("OC", ("ap", "us")),
    ("SA", ("sa", "us")),
)
HOT_QUERIES = 2048  # distinct (name, source) queries the hot case cycles over
COLD_QUERIES = 10000
ROUNDS = 20
NOTES_MARK = "<!-- run.sh keeps everything below this line -->"
HEADING = "## Scale"
BEGIN = "<!-- bench/scale.py writes from here -->"
END = "<!-- bench/scale.py writes up to here -->"


# -- the pools ---------------------------------------------------------------------------


def pool_name(i: int) -> str:
    return f"p{i}.{ZONE}"


def address(k: int) -> str:
    return f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"


def make_pool(i: int, first_address: int | None = None) -> Pool:
    base = i * 8 + 1 if first_address is None else first_address
    members = tuple(
        Member(address(base + j), 100 if j % 2 == 0 else 50, REGIONS[j // 2]) for j in range(8)
    )
    rules = tuple(Rule(MatchKind.CONTINENT, continent, regions) for continent, regions in RULES)
    return Pool(pool_name(i), members, rules, ttl=30, max_answers=2, default_regions=("us", "eu"))


# -- queries -----------------------------------------------------------------------------


def query_bytes(name: str, qid: int) -> bytes:
    """A plain A query (RD set, no EDNS), as a stub resolver sends it."""
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + b"\x00\x00\x01\x00\x01"


def queries(names: list[str], count: int, seed: int) -> list[tuple[bytes, str]]:
    rng = random.Random(seed)
    return [
        (query_bytes(rng.choice(names), rng.randrange(65536)), rng.choice(SOURCES))
        for _ in range(count)
    ]


Answerer = Callable[[bytes, str, Transport], bytes | None]


def cpu_us(answer: Answerer, batch: list[tuple[bytes, str]], passes: int) -> float:
    """Microseconds of this process's CPU per query (CPU time, not wall time: the other
    processes of a busy machine do not count)."""
    udp = Transport.UDP
    started = time.process_time()
    for _ in range(passes):
        for data, source in batch:
            answer(data, source, udp)
    return (time.process_time() - started) / (passes * len(batch)) * 1e6


def query_costs(big: SnapshotHolder, small: SnapshotHolder, count: int) -> dict[str, float]:
    """µs/query among count pools and, round for round in between (so that a busy moment
    of the machine hits both alike), among 10: hot (the fast path, repeated queries) and
    cold (first sight: the full path), over the first 10 pool names and over names
    spread across every pool. The fastest of ROUNDS rounds each."""
    ten = [pool_name(i) for i in range(10)]
    spread = [pool_name(i) for i in range(count)]
    fast_big, fast_small = (CachingAnswerer(h, random.Random(1)) for h in (big, small))
    full_big, full_small = (PacketAnswerer(h, random.Random(1)) for h in (big, small))
    hot_ten, hot_spread = queries(ten, HOT_QUERIES, 1), queries(spread, HOT_QUERIES, 2)
    cold_ten, cold_spread = queries(ten, COLD_QUERIES, 3), queries(spread, COLD_QUERIES, 4)
    for fast, batch in ((fast_big, hot_ten + hot_spread), (fast_small, hot_ten)):
        for data, source in batch:  # every key seen once: the plans exist
            assert fast(data, source, Transport.UDP) is not None
    cases: dict[
        str, tuple[Answerer, list[tuple[bytes, str]], Answerer, list[tuple[bytes, str]], int]
    ] = {
        "hot10": (fast_big, hot_ten, fast_small, hot_ten, 10),
        "hot": (fast_big, hot_spread, fast_small, hot_ten, 10),
        "cold10": (full_big, cold_ten, full_small, cold_ten, 1),
        "cold": (full_big, cold_spread, full_small, cold_ten, 1),
    }
    costs = {f"{case}{suffix}": float("inf") for case in cases for suffix in ("_us", "_base_us")}
    for _ in range(ROUNDS):  # every case in every round: a busy spell hits them all alike
        for case, (big_answer, big_batch, small_answer, small_batch, passes) in cases.items():
            small_us = cpu_us(small_answer, small_batch, passes)
            big_us = cpu_us(big_answer, big_batch, passes)
            costs[f"{case}_base_us"] = min(costs[f"{case}_base_us"], small_us)
            costs[f"{case}_us"] = min(costs[f"{case}_us"], big_us)
    return costs


def answers(holder: SnapshotHolder, name: str) -> tuple[int, set[str]]:
    """(rcode, A addresses) for a client in the US; parses only what these replies hold."""
    reply = PacketAnswerer(holder, random.Random(0))(
        query_bytes(name, 1), SOURCES[0], Transport.UDP
    )
    assert reply is not None
    rcode, count = reply[3] & 15, struct.unpack("!H", reply[6:8])[0]
    found, offset = set(), len(query_bytes(name, 1))
    for _ in range(count):  # each answer: pointer(2) type class ttl rdlength(10) rdata(4)
        found.add(".".join(str(b) for b in reply[offset + 12 : offset + 16]))
        offset += 16
    return rcode, found


# -- one size, in its own process --------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def timed(work: Awaitable[Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await work
    return time.perf_counter() - started, value


async def change_latency(
    publisher: SnapshotPublisher,
    store: Store,
    count: int,
    api: Callable[..., Awaitable[float]],
    changes: int,
) -> dict[str, Any]:
    """Commit single-pool changes through the Store (then refresh) and through the API
    (whose reply comes after the refresh); each must show in the answers at once."""
    holder = publisher.holder
    fresh = 1 << 22  # member addresses no pool has yet
    results: dict[str, list[float]] = {"write": [], "visible": [], "api": []}
    picks = random.Random(5).sample(range(count), min(count, 3 * changes))
    doomed, kept = picks[:changes], picks[changes:]
    for n in range(changes):
        changed = make_pool(kept[n % len(kept)], fresh + n * 16)
        write_s, _ = await timed(store.replace_pool(changed))
        visible_s, _ = await timed(publisher.refresh())
        rcode, found = answers(holder, changed.name)
        assert rcode == 0 and found <= {m.address for m in changed.members[:2]}, found
        created = make_pool(count + n, fresh + 8 * 16 + n * 16)
        write2, _ = await timed(store.create_pool(created))
        visible2, _ = await timed(publisher.refresh())
        assert answers(holder, created.name)[1], "created pool not answered"
        gone = pool_name(doomed[n])
        write3, _ = await timed(store.delete_pool(gone))
        visible3, _ = await timed(publisher.refresh())
        assert answers(holder, gone)[0] == 3, "deleted pool still answered"
        results["write"] += [write_s, write2, write3]
        results["visible"] += [visible_s, visible2, visible3]
        via_api = make_pool(kept[-1 - n % len(kept)], fresh + 16 * 16 + n * 16)
        results["api"].append(await api(via_api))  # PUT: replaces the pool
        rcode, found = answers(holder, via_api.name)
        assert rcode == 0 and found <= {m.address for m in via_api.members[:2]}, found
    return {
        "write_ms": statistics.median(results["write"]) * 1e3,
        "visible_ms": statistics.median(results["visible"]) * 1e3,
        "visible_max_ms": max(results["visible"]) * 1e3,
        "api_ms": statistics.median(results["api"]) * 1e3,
        "api_max_ms": max(results["api"]) * 1e3,
    }


async def serve_and_change(url: str, count: int, workdir: Path, changes: int) -> dict[str, Any]:
    """geodns's own start-up (full load and build), then changes through store and API."""
    settings = Settings(
        dns=(("127.0.0.1", 0),),
        zones=workdir,
        api=None,
        database_url=url,
        geoip_db=str(GEO_DB),
        geoip_bundled=False,
        poll_interval_s=0.25,
    )
    app = make_app(settings)
    runner = web.AppRunner(app, access_log=None)
    start_s, _ = await timed(runner.setup())  # opens the store: the full load and build
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        token = await issue_token(app[STORE], "bench", "admin")
        async with aiohttp.ClientSession() as session:

            async def api(pool: Pool) -> float:
                started = time.perf_counter()
                async with session.put(
                    f"http://{host}:{port}/api/v1/pools/{pool.name}",
                    json=to_document(pool),
                    headers={"Authorization": f"Bearer {token}"},
                ) as reply:
                    assert reply.status == 200, await reply.text()
                return time.perf_counter() - started

            latency = await change_latency(app[PUBLISHER], app[STORE], count, api, changes)
    finally:
        await runner.cleanup()
    return {"startup_s": start_s, **latency}


async def measure_backend(
    url: str, count: int, workdir: Path, full: bool, changes: int
) -> dict[str, Any]:
    await upgrade(url)
    write_s, _ = await timed(bulk_insert(url, (make_pool(i) for i in range(count)), analyze=True))
    result: dict[str, Any] = {"write_s": write_s}
    if full:
        store = await Store.open(url)
        try:
            gc.collect()
            rss0 = rss_bytes()
            load_s, state = await timed(store.load_state())
            gc.collect()
            rss1 = rss_bytes()
        finally:
            await store.close()
        zones = load_zone_dir(workdir).zones
        geo = open_geo(str(GEO_DB))
        started = time.perf_counter()
        with collector_paused():  # as SnapshotPublisher does for a full load
            snapshot = build_snapshot(1, zones, state.pools, empty_snapshot().health, geo)
        build_s = time.perf_counter() - started
        gc.collect()
        rss2 = rss_bytes()
        assert len(snapshot.pools) == count
        holder, small = SnapshotHolder(empty_snapshot()), SnapshotHolder(empty_snapshot())
        holder.publish(snapshot)
        small.publish(
            build_snapshot(
                1, zones, [make_pool(i) for i in range(10)], empty_snapshot().health, geo
            )
        )
        result |= {
            "load_s": load_s,
            "build_s": build_s,
            "pools_mb": (rss1 - rss0) / 2**20,
            "snapshot_mb": (rss2 - rss1) / 2**20,
            **query_costs(holder, small, count),
        }
        del state, snapshot, holder, small
        gc.collect()
    return result | await serve_and_change(url, count, workdir, changes)


def postgres_database(base: str) -> Iterator[str]:
    import asyncpg  # only with GEODNS_TEST_POSTGRES_URL

    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"geodns_scale_{uuid.uuid4().hex[:12]}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def one_size(count: int, changes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="geodns-scale-") as tmp:
        workdir = Path(tmp)
        (workdir / "example.test.zone").write_text((BENCH / "example.test.zone").read_text())
        url = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
        measured = asyncio.run(measure_backend(url, count, workdir, True, changes))
        result = {"pools": count, "sqlite": measured}
        postgres = os.environ.get("GEODNS_TEST_POSTGRES_URL")
        if postgres:
            for pg_url in postgres_database(postgres):
                result["postgresql"] = asyncio.run(
                    measure_backend(pg_url, count, workdir, False, changes)
                )
        return result


# -- the table ---------------------------------------------------------------------------


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| pools | write s | load_state s | build s | pools MB | snapshot MB "
        "| hot µs (10 names) | hot µs (spread) | cold µs (10 names) | cold µs (spread) "
        "| start-up s | change: write ms | change: visible ms (max) | API PUT ms (max) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def vs(r: dict[str, float], case: str) -> str:  # against 10 pools, in the same process
        value, base = r[f"{case}_us"], r[f"{case}_base_us"]
        return f"{value:.2f} ({value / base - 1:+.0%})"

    for result in results:
        r = result["sqlite"]
        lines.append(
            f"| {result['pools']} | {r['write_s']:.1f} | {r['load_s']:.2f} | {r['build_s']:.2f} "
            f"| {r['pools_mb']:.0f} | {r['snapshot_mb']:.0f} "
            f"| {vs(r, 'hot10')} | {vs(r, 'hot')} | {vs(r, 'cold10')} | {vs(r, 'cold')} "
            f"| {r['startup_s']:.2f} | {r['write_ms']:.1f} "
            f"| {r['visible_ms']:.1f} ({r['visible_max_ms']:.1f}) "
            f"| {r['api_ms']:.1f} ({r['api_max_ms']:.1f}) |"
        )
    if any("postgresql" in r for r in results):
        lines += [
            "",
            "PostgreSQL (same pools; the writes go over a loopback connection):",
            "",
            "| pools | write s | start-up s | change: write ms "
            "| change: visible ms (max) | API PUT ms (max) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for result in results:
            if "postgresql" in result:
                r = result["postgresql"]
                lines.append(
                    f"| {result['pools']} | {r['write_s']:.1f} | {r['startup_s']:.2f} "
                    f"| {r['write_ms']:.1f} | {r['visible_ms']:.1f} ({r['visible_max_ms']:.1f}) "
                    f"| {r['api_ms']:.1f} ({r['api_max_ms']:.1f}) |"
                )
    return lines


def write_results(lines: list[str], path: Path) -> None:
    """Put the table between the markers of the "## Scale" section of the kept notes (the
    section and markers are added the first time); nothing else in the file changes."""
    text = path.read_text() if path.exists() else f"{NOTES_MARK}\n"
    if NOTES_MARK not in text:
        text += f"\n{NOTES_MARK}\n"
    head, notes = text.split(NOTES_MARK, 1)
    block = "\n".join([BEGIN, "", *lines, "", END])
    if BEGIN in notes and END in notes:
        before, rest = notes.split(BEGIN, 1)
        notes = before + block + rest.split(END, 1)[1]
    else:
        notes = notes.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"
    path.write_text(head + NOTES_MARK + notes)


def describe() -> list[str]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(BENCH), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return [
        f"`bench/scale.py` at {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + ".",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pools",
        default="1000,10000,100000",
        help="comma-separated pool counts (10 always runs: the baseline)",
    )
    parser.add_argument(
        "--changes",
        type=int,
        default=5,
        help="single-pool changes of each kind (replace, create, delete, API)",
    )
    parser.add_argument("--no-write", action="store_true", help="leave bench/RESULTS.md alone")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child: one size, JSON
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.changes)))
        return
    counts = sorted({10, *(int(c) for c in args.pools.split(","))})
    results = []
    for count in counts:
        print(f"measuring {count} pools ...", file=sys.stderr, flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(count), "--changes", str(args.changes)],
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:
            sys.exit(f"{count} pools failed:\n{child.stderr}")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    lines = describe() + table(results)
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines, BENCH / "RESULTS.md")


if __name__ == "__main__":
    main()
