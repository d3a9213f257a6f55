"""Scale (issue 6): among 20k pools, one pool's change reaches the answers within a second,
through the API of the node that took it and through the database's change feed of another.

The pools are bulk-inserted before geodns starts (so the setup takes seconds, not the
hours 20k API calls would); each node then reads only the changed pool, never all 20k.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dns.rcode
import pytest
from bulk_pools import bulk_insert
from harness import SERVE_ZONES, GeodnsProcess, start_geodns
from polling import within

from geodns.auth import issue_token
from geodns.pools.model import Member, Pool, to_document
from geodns.store.repository import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
POOLS = 20_000
REGIONS = ("us", "eu")


def member_address(k: int) -> str:
    return f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"


def pool(i: int, first: int | None = None) -> Pool:
    base = 4 * i + 1 if first is None else first
    members = tuple(Member(member_address(base + j), 100, REGIONS[j % 2]) for j in range(4))
    return Pool(f"p{i}.example.test.", members, max_answers=4)


async def editor_token(url: str) -> str:
    store = await Store.open(url)
    try:
        return await issue_token(store, "scale", "editor")
    finally:
        await store.close()


async def replace_in_store(url: str, changed: Pool) -> None:
    store = await Store.open(url)
    try:
        await store.replace_pool(changed)
    finally:
        await store.close()


def call(server: GeodnsProcess, method: str, path: str, token: str, body: Any = None) -> int:
    request = urllib.request.Request(
        server.api + path, method=method, data=None if body is None else json.dumps(body).encode()
    )
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def answered(server: GeodnsProcess, name: str) -> tuple[int, set[str]]:
    reply = server.query(name, "A")
    return reply.rcode(), {r.to_text() for rrset in reply.answer for r in rrset}


def test_one_change_among_20k_pools_reaches_the_answers_within_a_second(
    tmp_path: Path, database_url: str
) -> None:
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    asyncio.run(bulk_insert(database_url, (pool(i) for i in range(POOLS))))
    token = asyncio.run(editor_token(database_url))
    common = ["--zones", str(zones), "--database", database_url, "--no-geoip"]
    # start-up reads and compiles all 20k pools: the one full load
    node = start_geodns(["--dns", "127.0.0.1:0", "--api", "127.0.0.1:0", *common], timeout=180)
    try:
        other = start_geodns(["--dns", "127.0.0.31:0", "--api", "off", *common], timeout=180)
        try:
            assert answered(node, "p19999.example.test.") == (
                dns.rcode.NOERROR,
                {m.address for m in pool(19999).members},
            )

            # through the API: the reply comes once this node answers with the change
            changed = pool(123, first=1 << 20)
            new = {m.address for m in changed.members}
            started = time.monotonic()
            status = call(node, "PUT", f"/api/v1/pools/{changed.name}", token, to_document(changed))
            assert status == 200
            within(1.0, lambda: answered(node, changed.name) == (0, new), started=started)
            # and the other node learns it from the database within a second too
            within(1.0, lambda: answered(other, changed.name) == (0, new), started=started)

            created = pool(POOLS, first=(1 << 20) + 16)
            started = time.monotonic()
            assert call(node, "POST", "/api/v1/pools", token, to_document(created)) == 201
            for server in (node, other):
                within(
                    1.0,
                    started=started,
                    check=lambda s=server: (
                        answered(s, created.name)[1] == {m.address for m in created.members}
                    ),
                )

            started = time.monotonic()
            assert call(node, "DELETE", "/api/v1/pools/p7.example.test.", token) == 204
            for server in (node, other):
                within(
                    1.0,
                    started=started,
                    check=lambda s=server: answered(s, "p7.example.test.")[0] == dns.rcode.NXDOMAIN,
                )

            # a change committed by someone else (a script, another node's API)
            elsewhere = pool(4567, first=(1 << 20) + 32)
            started = time.monotonic()
            asyncio.run(replace_in_store(database_url, elsewhere))
            for server in (node, other):
                within(
                    1.0,
                    started=started,
                    check=lambda s=server: (
                        answered(s, elsewhere.name)[1] == {m.address for m in elsewhere.members}
                    ),
                )
            assert answered(other, "p19999.example.test.")[0] == dns.rcode.NOERROR
        finally:
            other.stop()
    finally:
        node.stop()
