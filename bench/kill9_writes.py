"""Acknowledged API writes across repeated kill -9 of the server: how many are lost (0).

    .venv/bin/python bench/kill9_writes.py [--kills 15] [--backend sqlite|postgresql|both]

One real `geodns serve` takes pool creations through its REST API, one request at a
time, while it is killed with SIGKILL every 1-3 s and started again on the same
database. Every write the API answered 201 is acknowledged; at the end the database
is read directly and each acknowledged pool must be there. Writes in flight when the
process died may or may not have landed (never answered, so never promised).
PostgreSQL uses a fresh database on GEODNS_TEST_POSTGRES_URL's server.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from databases import run_admin  # noqa: E402
from harness import SERVE_ZONES, GeodnsProcess, create_token, start_geodns  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from geodns.store.migrate import upgrade  # noqa: E402
from geodns.store.repository import Store  # noqa: E402


class Writer(threading.Thread):
    """Creates pools w<N>.example.test. one after another against whichever server is up."""

    def __init__(self, token: str) -> None:
        super().__init__(daemon=True)
        self.token = token
        self.api = ""
        self.acknowledged: list[str] = []
        self.attempted = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            api = self.api
            if not api:
                time.sleep(0.01)
                continue
            n += 1
            name = f"w{n}.example.test."
            body = json.dumps({"name": name, "members": [{"address": "192.0.2.1"}]})
            parts = urlsplit(api)
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            self.attempted += 1
            try:
                connection.request(
                    "POST",
                    "/api/v1/pools",
                    body,
                    {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                )
                if connection.getresponse().status == 201:
                    self.acknowledged.append(name)
            except OSError:
                time.sleep(0.01)  # the server is down: the next name, once it is back
            finally:
                connection.close()


def serve(zones: Path, url: str) -> GeodnsProcess:
    return start_geodns(
        [
            "--dns",
            "127.0.0.43:0",
            "--api",
            "127.0.0.43:0",
            "--zones",
            str(zones),
            "--database",
            url,
            "--no-geoip",
        ]
    )


async def stored_pools(url: str) -> set[str]:
    store = await Store.open(url)
    try:
        return {pool.name for pool in await store.list_pools()}
    finally:
        await store.close()


def one_backend(url: str, kills: int, rng: random.Random) -> dict[str, int]:
    workdir = Path(tempfile.mkdtemp(prefix="geodns-kill9."))
    try:
        asyncio.run(upgrade(url))
        zones = workdir / "zones"
        shutil.copytree(SERVE_ZONES, zones)
        writer = Writer(create_token(url, "editor", "bench"))
        server = serve(zones, url)
        writer.api = server.api
        writer.start()
        for _ in range(kills):
            time.sleep(rng.uniform(1.0, 3.0))
            writer.api = ""
            server.stop(signal.SIGKILL)
            server = serve(zones, url)
            writer.api = server.api
        time.sleep(1.0)
        writer.stop.set()
        writer.join(15)
        server.stop()
        stored = asyncio.run(stored_pools(url))
        lost = [name for name in writer.acknowledged if name not in stored]
        return {
            "kills": kills,
            "attempted": writer.attempted,
            "acknowledged": len(writer.acknowledged),
            "stored": len(stored),
            "lost": len(lost),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=15)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results: dict[str, dict[str, int]] = {}
    if args.backend in ("sqlite", "both"):
        directory = Path(tempfile.mkdtemp(prefix="geodns-kill9-db."))
        try:
            url = f"sqlite+aiosqlite:///{directory / 'geodns.db'}"
            results["sqlite"] = one_backend(url, args.kills, rng)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    base = os.environ.get("GEODNS_TEST_POSTGRES_URL")
    if args.backend in ("postgresql", "both"):
        if not base:
            sys.exit("set GEODNS_TEST_POSTGRES_URL for the PostgreSQL run")
        name = f"geodns_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(run_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(base).set(database=name).render_as_string(hide_password=False)
            results["postgresql"] = one_backend(url, args.kills, rng)
        finally:
            asyncio.run(run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    print("| backend | kill -9 | writes sent | acknowledged (201) | pools stored | lost |")
    print("|---|---|---|---|---|---|")
    for backend, r in results.items():
        print(
            f"| {backend} | {r['kills']} | {r['attempted']} | {r['acknowledged']} | "
            f"{r['stored']} | {r['lost']} |"
        )


if __name__ == "__main__":
    main()
